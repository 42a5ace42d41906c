"""The only code that asks the gateway to move money, and the job that finds out what became of unclear answers.

The rule for every call: the intent (a pending Payment or Refund with its idempotency key) was committed by a
service; here the row is claimed (`submitted_at` set by a conditional UPDATE, so two processes never both call),
the gateway is called with no transaction open and no lock held, and the answer is recorded by payments/outcomes.py.
A timeout or an unclear answer is recorded as `unknown`, never guessed: `reconcile_unsettled` (a beat task) asks the
gateway again, by reference or by the same key, until it knows. An intent whose process died before the call is
picked up by the same job and submitted with the key it was created with.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from payments.gateways import get_gateway
from payments.gateways.base import ChargeResult, RefundResult
from payments.models import Payment, PaymentMethod, Refund
from payments.outcomes import charge_outcome_record, refund_outcome_record

log = logging.getLogger(__name__)

# An intent not submitted this long after it was written was orphaned by a process that died.
ORPHAN_AFTER = timedelta(minutes=2)
# Ask again about pending and unknown answers once they are this old (a pending card settles on its own time).
ASK_AGAIN_AFTER = timedelta(seconds=30)


def _assert_no_transaction() -> None:
    if connection.in_atomic_block:
        raise RuntimeError("Gateway calls are made outside any transaction: record the intent and commit first.")


def _claim(model, pk: int) -> bool:
    """Take the right to submit this intent (once, whichever process gets here first)."""
    return bool(model.objects.filter(pk=pk, submitted_at__isnull=True).update(submitted_at=timezone.now()))


def charge_submit(payment_id: int, *, actor=None) -> Payment:
    """Send a recorded charge attempt to the gateway and record the answer."""
    _assert_no_transaction()
    if not _claim(Payment, payment_id):
        return Payment.objects.get(pk=payment_id)
    payment = Payment.objects.select_related("payment_method").get(pk=payment_id)
    method: PaymentMethod | None = payment.payment_method
    gateway = get_gateway(payment.gateway)
    try:
        result = gateway.charge(amount=payment.amount, currency=payment.currency,
                                customer_ref=method.gateway_customer_ref if method else "",
                                method_ref=method.gateway_ref if method else "", key=payment.gateway_key,
                                metadata={"portal_payment": payment.public_id})
    except Exception:  # an adapter bug or a network failure it did not catch: the outcome is not known
        log.exception("payments.charge_submit.error", extra={"payment": payment.public_id})
        result = ChargeResult(outcome="unknown")
    return charge_outcome_record(payment_id, result, actor=actor)


def refund_submit(refund_id: int, *, actor=None) -> Refund:
    """Send a recorded refund to the gateway and record the answer."""
    _assert_no_transaction()
    if not _claim(Refund, refund_id):
        return Refund.objects.get(pk=refund_id)
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    gateway = get_gateway(refund.payment.gateway)
    try:
        result = gateway.refund(charge_ref=refund.payment.gateway_ref, amount=refund.amount,
                                currency=refund.currency, key=refund.idempotency_key,
                                metadata={"portal_refund": refund.public_id,
                                          "portal_payment": refund.payment.public_id})
    except Exception:
        log.exception("payments.refund_submit.error", extra={"refund": refund.public_id})
        result = RefundResult(outcome="unknown")
    return refund_outcome_record(refund_id, result, actor=actor)


def _ask_about_charge(payment: Payment) -> None:
    try:
        result = get_gateway(payment.gateway).charge_status(ref=payment.gateway_ref, key=payment.gateway_key)
    except Exception:
        log.exception("payments.reconcile.charge_error", extra={"payment": payment.public_id})
        return
    if result.outcome != payment.status:
        charge_outcome_record(payment.pk, result)


def _ask_about_refund(refund: Refund) -> None:
    try:
        result = get_gateway(refund.payment.gateway).refund_status(
            ref=refund.gateway_ref, charge_ref=refund.payment.gateway_ref, key=refund.idempotency_key)
    except Exception:
        log.exception("payments.reconcile.refund_error", extra={"refund": refund.public_id})
        return
    if result.outcome != refund.status:
        refund_outcome_record(refund.pk, result)


def reconcile_unsettled(*, now=None, limit: int = 500) -> dict[str, int]:
    """Submit orphaned intents and ask the gateway about pending and unknown answers (beat task, every minute;
    safe to run twice or late). Returns how many of each were looked at."""
    _assert_no_transaction()
    now = now or timezone.now()
    orphan_before, ask_before = now - ORPHAN_AFTER, now - ASK_AGAIN_AFTER
    counts = {"charges_submitted": 0, "charges_checked": 0, "refunds_submitted": 0, "refunds_checked": 0}
    unsettled_payments = Payment.objects.filter(status__in=[Payment.Status.PENDING, Payment.Status.UNKNOWN])
    for pk in (unsettled_payments.filter(submitted_at__isnull=True, created_at__lt=orphan_before)
               .exclude(gateway_key="").order_by("pk").values_list("pk", flat=True)[:limit]):
        charge_submit(pk)
        counts["charges_submitted"] += 1
    for payment in (unsettled_payments.filter(submitted_at__lt=ask_before).exclude(gateway_key="")
                    .order_by("pk")[:limit]):
        _ask_about_charge(payment)
        counts["charges_checked"] += 1
    unsettled_refunds = Refund.objects.filter(status__in=Refund.UNSETTLED_STATUSES).select_related("payment")
    for pk in (unsettled_refunds.filter(submitted_at__isnull=True, created_at__lt=orphan_before)
               .exclude(idempotency_key="").order_by("pk").values_list("pk", flat=True)[:limit]):
        refund_submit(pk)
        counts["refunds_submitted"] += 1
    for refund in unsettled_refunds.filter(submitted_at__lt=ask_before).exclude(idempotency_key="").order_by("pk")[:limit]:
        _ask_about_refund(refund)
        counts["refunds_checked"] += 1
    return counts
