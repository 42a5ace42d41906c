"""What the gateway says became of a charge, a refund or a disputed payment, applied to the portal's rows.

Called by the webhook receiver and by reconciliation. Each call is atomic, idempotent, and a no-op answering None
when no row has that gateway ref.
"""

from __future__ import annotations

from django.db import transaction

from payments.gateways.base import ChargeResult, RefundResult
from payments.models import Payment, Refund
from portal.audit import audit_record

_CHARGE_STATUS = {"succeeded": Payment.Status.SUCCEEDED, "pending": Payment.Status.PENDING,
                  "failed": Payment.Status.FAILED}
# A payment that is settled stays settled: a late "pending" or a failure never undoes a capture.
_MAY_BECOME = {
    Payment.Status.UNKNOWN: {Payment.Status.SUCCEEDED, Payment.Status.PENDING, Payment.Status.FAILED},
    Payment.Status.PENDING: {Payment.Status.SUCCEEDED, Payment.Status.FAILED},
    Payment.Status.FAILED: {Payment.Status.SUCCEEDED},  # the same PaymentIntent confirmed again
}


@transaction.atomic
def charge_outcome_apply(*, gateway: str, ref: str, result: ChargeResult) -> Payment | None:
    payment = (Payment.objects.select_for_update(no_key=True).filter(gateway=gateway, gateway_ref=ref)
               .order_by("pk").first()) if ref else None
    if payment is None:
        return None
    status = _CHARGE_STATUS.get(result.outcome)
    if status is None or status not in _MAY_BECOME.get(payment.status, set()):
        return payment
    before = payment.status
    payment.status = status
    payment.failure_code = result.failure_code if status == Payment.Status.FAILED else ""
    payment.failure_message = result.failure_message[:255] if status == Payment.Status.FAILED else ""
    payment.decline_type = ((Payment.DeclineType.HARD if result.hard_decline else Payment.DeclineType.SOFT)
                            if status == Payment.Status.FAILED else "")
    payment.save(update_fields=["status", "failure_code", "failure_message", "decline_type"])
    audit_record(actor=None, action="payments.payment.outcome", customer=payment.customer, obj=payment,
                 before={"status": before}, after={"status": status}, data={"gateway": gateway})
    return payment


@transaction.atomic
def refund_outcome_apply(*, gateway: str, ref: str, result: RefundResult) -> Refund | None:
    found = Refund.objects.filter(payment__gateway=gateway, gateway_ref=ref).values_list("pk", "payment_id").first()
    if not ref or found is None:
        return None
    refund_pk, payment_pk = found
    payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_pk)  # the payment, then its refund
    refund = Refund.objects.select_for_update(no_key=True).get(pk=refund_pk)
    if result.outcome not in ("succeeded", "failed") or refund.status not in Refund.UNSETTLED_STATUSES:
        return refund
    before = refund.status
    refund.status = result.outcome
    refund.failure_message = result.failure_message[:255] if result.outcome == "failed" else ""
    refund.save(update_fields=["status", "failure_message"])
    payment.amount_refund_pending = max(payment.amount_refund_pending - refund.amount, 0)
    if result.outcome == "succeeded":
        payment.amount_refunded = min(payment.amount_refunded + refund.amount, payment.amount)
        payment.status = (Payment.Status.REFUNDED if payment.amount_refunded >= payment.amount
                          else Payment.Status.PARTIALLY_REFUNDED)
    payment.save(update_fields=["amount_refund_pending", "amount_refunded", "status"])
    audit_record(actor=None, action="payments.refund.outcome", customer=payment.customer, obj=refund,
                 before={"status": before}, after={"status": refund.status},
                 data={"payment": payment.public_id, "amount": refund.amount, "gateway": gateway})
    return refund


@transaction.atomic
def payment_dispute_set(*, gateway: str, charge_ref: str, disputed: bool) -> Payment | None:
    payment = (Payment.objects.select_for_update(no_key=True).filter(gateway=gateway, gateway_ref=charge_ref)
               .order_by("pk").first()) if charge_ref else None
    if payment is None or payment.disputed == disputed:
        return payment
    payment.disputed = disputed
    payment.save(update_fields=["disputed"])
    action = "payments.payment.dispute_opened" if disputed else "payments.payment.dispute_closed"
    audit_record(actor=None, action=action, customer=payment.customer, obj=payment, before={"disputed": not disputed},
                 after={"disputed": disputed}, data={"gateway": gateway})
    return payment
