"""Charging an invoice: a retry of a failed payment by an agent, the charge after a card update, and (later) the
billing jobs' renewals and dunning retries all go through `invoice_charge`.

Each charge is one new attempt (a Payment row, pending, with its own idempotency key) on the invoice's outstanding
amount, after the customer's credit balance has paid what it can. The gateway is called after the commit
(payments/gateway_calls.py). Lock order: customer, invoice, payment.

When a retry is refused, `retry_verdict` says why, in the sentence the disabled button shows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from customers.models import ActivityEvent, Customer
from payments.credit import credit_apply_to_invoice
from payments.models import Invoice, Payment, PaymentMethod
from payments.outcomes import invoice_amount_outstanding
from payments.policy import ALLOWED, APP_STORE_KINDS, REFUSED, Verdict
from portal.audit import Timeline, audit_record
from portal.errors import DomainError
from portal.money import format_money
from portal.roles import Cap, has_capability


@dataclass(frozen=True)
class ChargeAttempt:
    """What a charge request became: a new payment attempt, or an invoice paid by credit alone."""

    payment: Payment | None
    invoice: Invoice
    credit_applied: int = 0
    replayed: bool = False


def default_method(customer_id: int) -> PaymentMethod | None:
    return PaymentMethod.objects.filter(customer_id=customer_id, is_default=True).first()


def _latest_attempt(invoice_id: int) -> Payment | None:
    return Payment.objects.filter(invoice_id=invoice_id).order_by("-created_at", "-id").first()


def retry_verdict(payment: Payment, *, actor=None, method: PaymentMethod | None = None,
                  latest: Payment | None = None) -> Verdict:
    """May this failed payment be retried now? `method`/`latest` may be passed when already loaded (list pages)."""
    if actor is not None and not has_capability(actor, Cap.RETRY_PAYMENTS):
        return Verdict(REFUSED, "Your role does not allow retrying payments.", "role")
    if payment.status != Payment.Status.FAILED:
        return Verdict(REFUSED, "Only a failed payment can be retried.", "not_failed")
    invoice = payment.invoice
    if invoice is None:
        return Verdict(REFUSED, "This payment has no invoice to collect.", "no_invoice")
    if invoice.status != Invoice.Status.OPEN:
        return Verdict(REFUSED, f"Invoice {invoice.number} is {invoice.get_status_display().lower()}: nothing is "
                                f"left to collect.", "invoice_closed")
    latest = latest if latest is not None else _latest_attempt(invoice.pk)
    if latest is not None and latest.pk != payment.pk:
        if latest.status in (Payment.Status.PENDING, Payment.Status.UNKNOWN):
            return Verdict(REFUSED, f"A newer attempt ({latest.public_id}) is still processing.", "in_progress")
        return Verdict(REFUSED, f"A newer attempt ({latest.public_id}) was made: retry that one.", "superseded")
    method = method if method is not None else default_method(payment.customer_id)
    if method is None:
        return Verdict(REFUSED, "No payment method on file: send the customer a card-update link.", "no_method")
    if method.kind in APP_STORE_KINDS:
        return Verdict(REFUSED, f"This customer pays through {APP_STORE_KINDS[method.kind].replace('the ', '')}: "
                                f"it collects the payment itself.", "channel")
    if payment.decline_type == Payment.DeclineType.HARD and payment.payment_method_id == method.pk:
        return Verdict(REFUSED, f"{method} was declined for good ({(payment.failure_message or payment.failure_code).rstrip('.')}"
                                f"): retrying it would fail again. Send a card-update link; retries come back once "
                                f"the card changes.", "hard_decline")
    return Verdict(ALLOWED)


def _new_attempt(invoice: Invoice, method: PaymentMethod, amount: int, *, actor, request_key: str | None,
                 previous: Payment | None, why: str) -> Payment:
    from payments.gateway_calls import charge_submit

    payment = Payment.objects.create(
        customer=invoice.customer, invoice=invoice, payment_method=method, amount=amount,
        currency=invoice.currency, status=Payment.Status.PENDING,
        attempt=(previous.attempt + 1) if previous is not None else 1, gateway=method.gateway,
        gateway_key=f"charge-{uuid.uuid4()}", created_at=timezone.now(), request_key=request_key)
    audit_record(actor=actor, action="payments.payment.attempted", customer=invoice.customer, obj=payment,
                 data={"payment": payment.public_id, "invoice": invoice.public_id, "amount": amount,
                       "currency": invoice.currency, "attempt": payment.attempt, "why": why,
                       **({"retry_of": previous.public_id} if previous else {})},
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT,
                                   f"Charging {format_money(amount, invoice.currency)} for invoice {invoice.number} "
                                   f"to {method} ({why})", {"payment": payment.public_id,
                                                             "invoice": invoice.public_id}))
    transaction.on_commit(lambda: charge_submit(payment.pk))
    return payment


def _lock(customer_id: int, invoice_id: int) -> Invoice:
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer_id)
    invoice = Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id)
    invoice.customer = customer
    return invoice


def _charge_locked(invoice: Invoice, *, actor, request_key: str | None, previous: Payment | None,
                   why: str) -> ChargeAttempt:
    """Credit first, then one attempt on the default method for what is left (the invoice and customer locked)."""
    applied = credit_apply_to_invoice(invoice=invoice, actor=actor)
    amount = invoice_amount_outstanding(invoice)
    if amount <= 0:
        return ChargeAttempt(payment=None, invoice=invoice, credit_applied=applied)
    method = default_method(invoice.customer_id)
    if method is None:
        raise DomainError("No payment method on file: send the customer a card-update link.", code="no_method")
    payment = _new_attempt(invoice, method, amount, actor=actor, request_key=request_key, previous=previous,
                           why=why)
    return ChargeAttempt(payment=payment, invoice=invoice, credit_applied=applied)


@transaction.atomic
def payment_retry(*, payment: Payment, actor, request_key: str | None = None) -> ChargeAttempt:
    """Charge the invoice of a failed payment again, with the customer's current default method."""
    invoice_id = payment.invoice_id
    if invoice_id is None:
        raise DomainError("This payment has no invoice to collect.", code="retry_no_invoice")
    invoice = _lock(payment.customer_id, invoice_id)
    payment = Payment.objects.select_for_update(no_key=True).get(pk=payment.pk)
    if request_key:
        earlier = Payment.objects.filter(request_key=request_key).first()
        if earlier is not None:
            if earlier.invoice_id != invoice_id:
                raise DomainError("This request was already sent for another payment.", code="idempotency_conflict")
            return ChargeAttempt(payment=earlier, invoice=invoice, replayed=True)
    payment.invoice = invoice
    verdict = retry_verdict(payment, actor=actor)
    if verdict.refused:
        raise DomainError(verdict.reason, code=f"retry_{verdict.code}")
    return _charge_locked(invoice, actor=actor, request_key=request_key, previous=payment, why="retry")


@transaction.atomic
def invoice_charge(*, invoice: Invoice, actor, why: str, request_key: str | None = None) -> ChargeAttempt:
    """Collect an open invoice: credit first, then the default method (billing jobs, card updates)."""
    invoice = _lock(invoice.customer_id, invoice.pk)
    if invoice.status != Invoice.Status.OPEN:
        raise DomainError(f"Invoice {invoice.number} is {invoice.get_status_display().lower()}: nothing to collect.",
                          code="invoice_closed")
    latest = _latest_attempt(invoice.pk)
    if latest is not None and latest.status in (Payment.Status.PENDING, Payment.Status.UNKNOWN):
        raise DomainError(f"An attempt ({latest.public_id}) is still processing.", code="in_progress")
    return _charge_locked(invoice, actor=actor, request_key=request_key, previous=latest, why=why)


def invoice_charge_outstanding(*, customer: Customer, actor) -> Payment | None:
    """After a card update: charge the customer's newest open invoice whose last attempt failed, once. None when
    nothing is outstanding (or credit paid it). Call it with no transaction open: the charge is made at commit."""
    invoice = (Invoice.objects.filter(customer_id=customer.pk, status=Invoice.Status.OPEN)
               .order_by("-issued_at", "-id").first())
    if invoice is None:
        return None
    latest = _latest_attempt(invoice.pk)
    if latest is None or latest.status != Payment.Status.FAILED:
        return None
    try:
        attempt = invoice_charge(invoice=invoice, actor=actor, why="card updated")
    except DomainError:
        return None
    return Payment.objects.get(pk=attempt.payment.pk) if attempt.payment is not None else None
