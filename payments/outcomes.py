"""Recording what the gateway answered: the one place where a charge or a refund becomes succeeded, failed, pending
or unknown, whoever learnt it (the request that made the call, the reconciliation job, a webhook).

Each function is atomic and idempotent: an answer that changes nothing (a repeated webhook, a reconciliation that
finds what is already recorded) writes nothing. Locks are taken in the payment order used everywhere in payments:
customer, invoice, payment, refund; the metrics row is updated last.

Side effects kept here so that no caller can forget one:
- a charge that succeeds settles its invoice when the invoice is then covered (ending its dunning schedule), and
  brings a subscription that was in grace or suspended for that invoice back to active (the `payment_recovered`
  event, through subscriptions/state.py like every change of subscription state);
- `CustomerMetrics` (total paid, LTV, payment count) follows every captured payment and every settled refund;
- a refund that settles or fails releases the amount it held against the payment's refundable amount.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from customers.models import ActivityEvent, Customer, CustomerMetrics
from payments.gateways.base import ChargeResult, RefundResult
from payments.models import Invoice, Payment, Refund
from portal.audit import Timeline, audit_record
from portal.money import format_money

SETTLED = ("succeeded", "failed")


def _lock_customer(customer_id: int) -> Customer:
    return Customer.objects.select_for_update(no_key=True).get(pk=customer_id)


def _metrics_add(customer_id: int, *, paid: int = 0, refunded: int = 0, payments: int = 0, paid_at=None) -> None:
    """Move the customer's running totals (the nightly job recomputes them in full)."""
    CustomerMetrics.objects.get_or_create(customer_id=customer_id)
    changes = {"total_paid": F("total_paid") + paid, "lifetime_value": F("lifetime_value") + paid - refunded,
               "payments_count": F("payments_count") + payments}
    if paid_at is not None:
        changes["last_payment_at"] = paid_at
    CustomerMetrics.objects.filter(customer_id=customer_id).update(**changes)


def invoice_amount_outstanding(invoice: Invoice) -> int:
    """What an invoice still asks for: total, less credit applied, less captured payments."""
    captured = sum(invoice.payments.filter(status__in=Payment.CAPTURED_STATUSES).values_list("amount", flat=True))
    return max(invoice.total - invoice.credit_applied - captured, 0)


def invoice_settle_if_covered(invoice: Invoice, *, actor=None) -> bool:
    """Mark a locked open invoice paid once credit and captured payments cover it (no retry is planned for a paid
    invoice); bring its subscription back from grace or suspended. Returns whether it was settled now."""
    if invoice.status != Invoice.Status.OPEN or invoice_amount_outstanding(invoice) > 0:
        return False
    invoice.status, invoice.paid_at, invoice.next_retry_at = Invoice.Status.PAID, timezone.now(), None
    invoice.save(update_fields=["status", "paid_at", "next_retry_at"])
    _subscription_back_to_active(invoice, actor=actor)
    return True


def _subscription_back_to_active(invoice: Invoice, *, actor) -> None:
    """The `payment_recovered` event (subscriptions/transitions.py), written by the one writer of subscription
    state, whoever paid the invoice: a dunning retry, an agent's retry, the card-update page, credit."""
    from subscriptions.models import Subscription
    from subscriptions.state import subscription_record
    from subscriptions.transitions import event_target

    if invoice.subscription_id is None:
        return
    subscription = Subscription.objects.select_for_update(no_key=True).get(pk=invoice.subscription_id)
    target = event_target(subscription.status, "payment_recovered")
    if target is None:
        return
    subscription.customer = invoice.customer
    subscription_record(subscription, actor=actor, action="payment_recovered",
                        summary=f"Subscription active again: invoice {invoice.number} is paid",
                        changes={"status": target, "suspended_at": None}, data={"invoice": invoice.public_id})


def _charge_summary(payment: Payment, result: ChargeResult) -> str:
    amount = format_money(payment.amount, payment.currency)
    if result.outcome == "succeeded":
        return f"Payment of {amount} succeeded"
    if result.outcome == "failed":
        return f"Payment of {amount} failed: {result.failure_message or result.failure_code}"
    if result.outcome == "pending":
        return f"Payment of {amount} is processing at the gateway"
    return f"Payment of {amount}: no clear answer from the gateway; checking again shortly"


_CHARGE_STATUS = {"succeeded": Payment.Status.SUCCEEDED, "failed": Payment.Status.FAILED,
                  "pending": Payment.Status.PENDING, "unknown": Payment.Status.UNKNOWN}


@transaction.atomic
def charge_outcome_record(payment_id: int, result: ChargeResult, *, actor=None) -> Payment:
    """Record the gateway's answer on a charge attempt that was pending or unknown. Settled attempts keep their
    state (a late or repeated answer changes nothing)."""
    customer_id = Payment.objects.values_list("customer_id", flat=True).get(pk=payment_id)
    _lock_customer(customer_id)
    invoice_id = Payment.objects.values_list("invoice_id", flat=True).get(pk=payment_id)
    invoice = Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id) if invoice_id else None
    payment = (Payment.objects.select_for_update(no_key=True, of=("self",)).select_related("customer")
               .get(pk=payment_id))
    status = _CHARGE_STATUS[result.outcome]
    if payment.status not in (Payment.Status.PENDING, Payment.Status.UNKNOWN) or (
            status == payment.status and (result.ref or "") in ("", payment.gateway_ref)):
        return payment
    before = {"status": payment.status}
    payment.status = status
    if result.ref:
        payment.gateway_ref = result.ref
    if status == Payment.Status.FAILED:
        payment.failure_code = result.failure_code[:40]
        payment.failure_message = result.failure_message[:255]
        payment.decline_type = Payment.DeclineType.HARD if result.hard_decline else Payment.DeclineType.SOFT
    payment.save(update_fields=["status", "gateway_ref", "failure_code", "failure_message", "decline_type"])
    if status == Payment.Status.SUCCEEDED:
        _metrics_add(payment.customer_id, paid=payment.amount, payments=1, paid_at=timezone.now())
        if invoice is not None:
            invoice.customer = payment.customer
            invoice_settle_if_covered(invoice, actor=actor)
    data = {"payment": payment.public_id, "amount": payment.amount, "currency": payment.currency,
            "gateway": payment.gateway}
    if status == Payment.Status.FAILED:
        data.update(failure_code=payment.failure_code, decline_type=payment.decline_type)
    audit_record(actor=actor, action=f"payments.payment.{status}", customer=payment.customer, obj=payment,
                 before=before, after={"status": status}, data=data,
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT, _charge_summary(payment, result),
                                   {"payment": payment.public_id}))
    return payment


def charge_outcome_apply(*, gateway: str, ref: str, result: ChargeResult) -> Payment | None:
    """An answer that names the charge by the gateway's id (webhooks). None when no attempt has that id."""
    payment_id = Payment.objects.filter(gateway=gateway, gateway_ref=ref).values_list("pk", flat=True).first()
    if payment_id is None or not ref:
        return None
    return charge_outcome_record(payment_id, result)


_REFUND_STATUS = {"succeeded": Refund.Status.SUCCEEDED, "failed": Refund.Status.FAILED,
                  "pending": Refund.Status.PENDING, "unknown": Refund.Status.UNKNOWN}


def _refunded_status(payment: Payment) -> str:
    if payment.amount_refunded >= payment.amount:
        return Payment.Status.REFUNDED
    return Payment.Status.PARTIALLY_REFUNDED if payment.amount_refunded else Payment.Status.SUCCEEDED


@transaction.atomic
def refund_outcome_record(refund_id: int, result: RefundResult, *, actor=None) -> Refund:
    """Record the gateway's answer on a refund that was pending or unknown. A refund that succeeds moves its amount
    from held to refunded; one that fails gives it back to the refundable amount."""
    customer_id, payment_id = (Refund.objects.filter(pk=refund_id)
                               .values_list("payment__customer_id", "payment_id").get())
    _lock_customer(customer_id)
    payment = (Payment.objects.select_for_update(no_key=True, of=("self",)).select_related("customer")
               .get(pk=payment_id))
    refund = Refund.objects.select_for_update(no_key=True).get(pk=refund_id)
    status = _REFUND_STATUS[result.outcome]
    if refund.status not in Refund.UNSETTLED_STATUSES or (
            status == refund.status and (result.ref or "") in ("", refund.gateway_ref)):
        return refund
    before = {"status": refund.status}
    refund.status = status
    if result.ref:
        refund.gateway_ref = result.ref
    if status in SETTLED:
        refund.settled_at = timezone.now()
        payment.amount_refund_pending -= refund.amount
        if status == Refund.Status.SUCCEEDED:
            payment.amount_refunded += refund.amount
            payment.status = _refunded_status(payment)
            _metrics_add(payment.customer_id, refunded=refund.amount)
        else:
            refund.failure_message = (result.failure_message or result.failure_code)[:255]
        payment.save(update_fields=["amount_refund_pending", "amount_refunded", "status"])
    refund.save(update_fields=["status", "gateway_ref", "settled_at", "failure_message"])
    amount = format_money(refund.amount, refund.currency)
    summary = {"succeeded": f"Refund of {amount} on {payment.public_id} succeeded",
               "failed": f"Refund of {amount} on {payment.public_id} failed: {refund.failure_message}",
               "pending": f"Refund of {amount} on {payment.public_id} is processing at the gateway",
               "unknown": f"Refund of {amount} on {payment.public_id}: no clear answer from the gateway; "
                          f"checking again shortly"}[status]
    audit_record(actor=actor, action=f"payments.refund.{status}", customer=payment.customer, obj=refund,
                 before=before, after={"status": status},
                 data={"payment": payment.public_id, "refund": refund.public_id, "amount": refund.amount,
                       "currency": refund.currency},
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT, summary,
                                   {"payment": payment.public_id, "refund": refund.public_id}))
    return refund


def refund_outcome_apply(*, gateway: str, ref: str, result: RefundResult) -> Refund | None:
    """An answer that names the refund by the gateway's id (webhooks). None when no refund has that id."""
    if not ref:
        return None
    refund_id = (Refund.objects.filter(payment__gateway=gateway, gateway_ref=ref)
                 .values_list("pk", flat=True).first())
    return refund_outcome_record(refund_id, result) if refund_id is not None else None


@transaction.atomic
def payment_dispute_set(*, gateway: str, charge_ref: str, disputed: bool) -> Payment | None:
    """A dispute opened or closed at the gateway: while open, the payment cannot be refunded here."""
    found = (Payment.objects.filter(gateway=gateway, gateway_ref=charge_ref).values_list("pk", "customer_id")
             .first()) if charge_ref else None
    if found is None:
        return None
    _lock_customer(found[1])
    payment = (Payment.objects.select_for_update(no_key=True, of=("self",)).select_related("customer")
               .get(pk=found[0]))
    if payment.disputed == disputed:
        return payment
    payment.disputed = disputed
    payment.save(update_fields=["disputed"])
    word = "opened" if disputed else "closed"
    audit_record(actor=None, action=f"payments.dispute.{word}", customer=payment.customer, obj=payment,
                 before={"disputed": not disputed}, after={"disputed": disputed},
                 data={"payment": payment.public_id},
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT, f"Dispute {word} on payment {payment.public_id}",
                                   {"payment": payment.public_id}))
    return payment
