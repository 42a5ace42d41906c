"""Refunds: full or partial, under the refund policy (payments/policy.py), immediately or after a manager's approval.

`refund_issue` locks the customer, then the payment (the payments lock order), asks the policy, and either records
the refund intent (pending, with the idempotency key the gateway will see) or an approval request. Either way the
amount is held against the payment at once (`Payment.amount_refund_pending`), so concurrent requests can never
refund more than was captured; a database constraint says the same. The gateway is called after the commit
(payments/gateway_calls.py), and the held amount is moved to `amount_refunded` or given back when the answer comes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from customers.models import ActivityEvent, Customer
from payments.models import Payment, Refund
from payments.policy import NEEDS_APPROVAL, refund_refusal, refund_verdict
from portal.audit import Timeline, audit_record
from portal.errors import DomainError
from portal.approvals import approval_request
from portal.models import Approval
from portal.money import format_money

REFUND_APPROVAL = "payments.refund"
NOTE_MAX_LENGTH = Refund._meta.get_field("reason").max_length


@dataclass(frozen=True)
class RefundRequest:
    """What a refund request became: a refund (sent to the gateway) or an approval request (waiting)."""

    refund: Refund | None = None
    approval: Approval | None = None
    replayed: bool = False  # the same request (same key) was already made: this is its result


def _lock(payment: Payment) -> Payment:
    Customer.objects.select_for_update(no_key=True).get(pk=payment.customer_id)
    return (Payment.objects.select_for_update(no_key=True, of=("self",))
            .select_related("customer__storefront", "payment_method", "invoice__subscription__plan")
            .get(pk=payment.pk))


def _earlier(request_key: str | None, payment: Payment, amount: int) -> RefundRequest | None:
    """The result of the same request made before (a double submit, a retried API call)."""
    if not request_key:
        return None
    refund = Refund.objects.filter(request_key=request_key).first()
    approval = Approval.objects.filter(request_key=request_key).first() if refund is None else None
    if refund is None and approval is None:
        return None
    same = (refund.payment_id == payment.pk and refund.amount == amount) if refund else (
        approval.kind == REFUND_APPROVAL and approval.payload.get("payment") == payment.public_id
        and approval.amount == amount)
    if not same:
        raise DomainError("This request was already sent with different values; reload the page and try again.",
                          code="idempotency_conflict")
    return RefundRequest(refund=refund, approval=approval, replayed=True)


def _clean_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise DomainError(f"The note is at most {NOTE_MAX_LENGTH} characters.", code="invalid_note")
    return note


def _create_refund(payment: Payment, *, amount: int, reason_code: str, note: str, actor,
                   request_key: str | None, approval: Approval | None = None) -> Refund:
    """Record the refund intent (its amount already held on the payment) and send it after the commit."""
    from payments.gateway_calls import refund_submit

    refund = Refund.objects.create(
        payment=payment, amount=amount, currency=payment.currency, status=Refund.Status.PENDING,
        reason=note, reason_code=reason_code, created_by=approval.requested_by if approval else actor,
        idempotency_key=f"refund-{uuid.uuid4()}", created_at=timezone.now(), request_key=request_key)
    approved = f", approved by {actor.get_username()}" if approval is not None else ""
    audit_record(actor=actor, action="payments.refund.created", customer=payment.customer, obj=refund,
                 data={"payment": payment.public_id, "refund": refund.public_id, "amount": amount,
                       "currency": payment.currency, "reason": reason_code,
                       **({"approval": approval.public_id} if approval else {})},
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT,
                                   f"Refund of {format_money(amount, payment.currency)} on {payment.public_id} "
                                   f"issued ({Refund.Reason(reason_code).label.lower()}{approved})",
                                   {"payment": payment.public_id, "refund": refund.public_id}))
    transaction.on_commit(lambda: refund_submit(refund.pk))
    return refund


@transaction.atomic
def refund_issue(*, payment: Payment, amount: int, reason_code: str, actor, note: str = "",
                 request_key: str | None = None) -> RefundRequest:
    """Refund `amount` minor units of `payment` to the method it was paid with, or ask a manager to approve it."""
    if reason_code not in Refund.Reason.values:
        raise DomainError(f"Choose a reason: {', '.join(Refund.Reason.values)}.", code="invalid_reason")
    note = _clean_note(note)
    payment = _lock(payment)
    earlier = _earlier(request_key, payment, amount)
    if earlier is not None:
        return earlier
    verdict = refund_verdict(payment=payment, actor=actor, amount=amount)
    if verdict.refused:
        raise DomainError(verdict.reason, code=f"refund_{verdict.code}")
    payment.amount_refund_pending += amount
    payment.save(update_fields=["amount_refund_pending"])
    if verdict.decision == NEEDS_APPROVAL:
        approval = approval_request(
            kind=REFUND_APPROVAL, customer=payment.customer, actor=actor,
            payload={"payment": payment.public_id, "reason_code": reason_code},
            amount=amount, currency=payment.currency, reason=reason_code, note=note, verdict=verdict.reason,
            request_key=request_key)
        return RefundRequest(approval=approval)
    return RefundRequest(refund=_create_refund(payment, amount=amount, reason_code=reason_code, note=note,
                                               actor=actor, request_key=request_key))


# ---- The approval kind: what happens when a manager decides ----------------------------------------------------

def _approval_payment(approval: Approval) -> Payment:
    return _lock(Payment.objects.get(public_id=approval.payload["payment"]))


def approval_check(approval: Approval) -> None:
    """At approval the refusals are checked again (the window and the limit are what the manager approves)."""
    payment = _approval_payment(approval)
    refusal = refund_refusal(payment, approval.amount, held=approval.amount)
    if refusal is not None:
        raise DomainError(refusal.reason, code=f"refund_{refusal.code}")


def approval_execute(approval: Approval, actor) -> dict:
    payment = _approval_payment(approval)
    refund = _create_refund(payment, amount=approval.amount, reason_code=approval.payload["reason_code"],
                            note=approval.note, actor=actor, request_key=None, approval=approval)
    return {"refund": refund.public_id}


def approval_release(approval: Approval) -> None:
    """A refund request that will not be carried out gives its amount back to the refundable amount."""
    payment = _approval_payment(approval)
    payment.amount_refund_pending -= approval.amount
    payment.save(update_fields=["amount_refund_pending"])


def approval_describe(approval: Approval) -> str:
    return (f"Refund {format_money(approval.amount, approval.currency)} of payment {approval.payload['payment']} "
            f"({Refund.Reason(approval.payload['reason_code']).label.lower()})")

