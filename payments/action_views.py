"""The money actions on a customer's profile: refund a payment, retry a failed one, add or remove credit.

Each opens in a dialog (htmx loads the form into the profile's money dialog; without JavaScript it is a page of its
own) that shows, before anything is submitted, what the rules say: the remaining refundable amount and the refund
policy's answer (immediate, needs a manager's approval, refused and why), the credit limit. The POST runs the one
service; the gateway is called after its commit, so the message says what actually happened. A successful htmx
submit reloads the profile's Payments tab, where the new state and the flashed message are shown.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from customers.access import access_customer
from customers.views.profile import customer_url
from payments.access import access_payment
from payments.charges import payment_retry
from payments.credit import credit_balance, credit_debit, credit_grant
from payments.forms import CreditForm, RefundForm, RefundPreviewForm, RetryForm
from payments.models import CreditEntry, Payment, Refund
from payments.policy import credit_limit, payment_rules, refund_verdict
from payments.refunds import refund_issue
from portal.access import require_capability
from portal.money import InvalidAmount, decimal_text, format_money, parse_amount, reporting_currency
from portal.roles import Cap
from portal.write_views import apply, form_errors

REFUND_TEMPLATE = "payments/refund.html"
CREDIT_TEMPLATE = "payments/credit.html"


def _done(request, customer, text: str, *, ok: bool = True):
    (messages.success if ok else messages.error)(request, text)
    url = customer_url(customer, "payments")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _dialog(request, template: str, context: dict, status: int = 200):
    return render(request, f"{template}#dialog_body" if request.htmx else template, context, status=status)


# ---- Refund ----------------------------------------------------------------------------------------------------

def _refund_context(request, payment: Payment, form: RefundForm | None = None) -> dict:
    left = payment.refundable_amount()
    form = form or RefundForm(currency=payment.currency, initial={
        "amount": decimal_text(left, payment.currency) if left else "", "form_token": uuid.uuid4().hex})
    amount = left if left else None
    if form.is_bound:
        try:
            amount = parse_amount(form.data.get("amount", ""), payment.currency)
        except InvalidAmount:
            amount = None
    return {"payment": payment, "customer": payment.customer, "refund_form": form, "refundable": left,
            "verdict": refund_verdict(payment=payment, actor=request.user, amount=amount), "amount": amount}


@require_GET
@require_capability(Cap.REFUND_PAYMENTS)
def refund_new(request, public_id: str):
    payment = access_payment(request, public_id)
    return _dialog(request, REFUND_TEMPLATE, _refund_context(request, payment))


@require_GET
@require_capability(Cap.REFUND_PAYMENTS)
def refund_preview(request, public_id: str):
    """The policy's answer for the amount typed so far (swapped in as the agent types)."""
    payment = access_payment(request, public_id)
    form = RefundPreviewForm(request.GET)
    amount = None
    if form.is_valid():
        try:
            amount = parse_amount(form.cleaned_data["amount"], payment.currency)
        except InvalidAmount:
            amount = None
    context = {"payment": payment, "refundable": payment.refundable_amount(), "amount": amount, "oob": True,
               "verdict": refund_verdict(payment=payment, actor=request.user, amount=amount)}
    return render(request, f"{REFUND_TEMPLATE}#verdict", context)


def refund_message(result) -> tuple[str, bool]:
    """What the agent reads after a refund request, by what became of it."""
    if result.approval is not None:
        approval = result.approval
        return (f"Refund of {format_money(approval.amount, approval.currency)} sent to a manager for approval "
                f"({approval.public_id}): {approval.verdict} You will see the decision on the timeline.", True)
    refund = Refund.objects.select_related("payment__payment_method").get(pk=result.refund.pk)
    amount = format_money(refund.amount, refund.currency)
    payment = refund.payment
    if refund.status == Refund.Status.SUCCEEDED:
        to = f" to {payment.payment_method}" if payment.payment_method else ""
        return (f"Refunded {amount}{to} ({refund.public_id}). Still refundable on {payment.public_id}: "
                f"{format_money(payment.refundable_amount(), payment.currency)}.", True)
    if refund.status == Refund.Status.FAILED:
        return (f"The gateway refused the refund of {amount}: {refund.failure_message} Nothing was refunded.",
                False)
    if refund.status == Refund.Status.UNKNOWN:
        return (f"The gateway did not answer clearly about the refund of {amount} ({refund.public_id}). It is held "
                f"and checked again within a minute: do not refund it again.", False)
    return (f"Refund of {amount} ({refund.public_id}) is processing at the gateway; the timeline will say when it "
            f"settles.", True)


@require_POST
@require_capability(Cap.REFUND_PAYMENTS)
def refund_create(request, public_id: str):
    payment = access_payment(request, public_id)
    form = RefundForm(request.POST, currency=payment.currency)
    outcome = apply(form, lambda data: refund_issue(
        payment=payment, amount=data["amount"], reason_code=data["reason"], note=data["note"], actor=request.user,
        request_key=form.request_key(request.user)), error_fields={"refund_amount": "amount", "invalid_reason": "reason",
                                           "invalid_note": "note"})
    if not outcome.ok:
        payment.refresh_from_db()
        return _dialog(request, REFUND_TEMPLATE, _refund_context(request, payment, form), status=422)
    text, ok = refund_message(outcome.result)
    return _done(request, payment.customer, text, ok=ok)


# ---- Retry -----------------------------------------------------------------------------------------------------

def retry_message(attempt) -> tuple[str, bool]:
    invoice = attempt.invoice
    if attempt.payment is None:
        return (f"Credit of {format_money(attempt.credit_applied, invoice.currency)} paid invoice {invoice.number}; "
                f"nothing was charged.", True)
    payment = Payment.objects.select_related("payment_method").get(pk=attempt.payment.pk)
    amount = format_money(payment.amount, payment.currency)
    credit = (f" Credit of {format_money(attempt.credit_applied, invoice.currency)} was applied first."
              if attempt.credit_applied else "")
    if payment.status == Payment.Status.SUCCEEDED:
        return f"Payment of {amount} succeeded ({payment.public_id}); invoice {invoice.number} is paid.{credit}", True
    if payment.status == Payment.Status.FAILED:
        return (f"The retry of {amount} on {payment.payment_method} was declined: {payment.failure_message}"
                f"{' Send a card-update link.' if payment.decline_type == Payment.DeclineType.HARD else ''}{credit}",
                False)
    if payment.status == Payment.Status.UNKNOWN:
        return (f"The gateway did not answer clearly about the charge of {amount} ({payment.public_id}). It is "
                f"checked again within a minute: do not retry it again.{credit}", False)
    return f"The charge of {amount} ({payment.public_id}) is processing; the timeline will say when it settles.", True


@require_POST
@require_capability(Cap.RETRY_PAYMENTS)
def retry_create(request, public_id: str):
    payment = access_payment(request, public_id)
    form = RetryForm(request.POST)
    outcome = apply(form, lambda data: payment_retry(payment=payment, actor=request.user,
                                                     request_key=form.request_key(request.user)))
    if not outcome.ok:
        return _done(request, payment.customer, form_errors(form), ok=False)
    text, ok = retry_message(outcome.result)
    return _done(request, payment.customer, text, ok=ok)


# ---- Credit ----------------------------------------------------------------------------------------------------

def _credit_context(request, customer, form: CreditForm | None = None) -> dict:
    form = form or CreditForm(currency=customer.currency, initial={"form_token": uuid.uuid4().hex,
                                                                   "direction": CreditEntry.Kind.GRANT})
    return {"customer": customer, "credit_form": form, "balance": credit_balance(customer.pk),
            "limit": credit_limit(request.user, payment_rules()), "reporting_currency": reporting_currency(),
            "entries": CreditEntry.objects.filter(customer=customer).order_by("-created_at", "-id")[:10]}


@require_GET
@require_capability(Cap.ISSUE_CREDIT)
def credit_new(request, public_id: str):
    customer = access_customer(request, public_id)
    return _dialog(request, CREDIT_TEMPLATE, _credit_context(request, customer))


def credit_message(customer, result) -> str:
    if result.approval is not None:
        approval = result.approval
        return (f"Credit of {format_money(approval.amount, approval.currency)} sent to a manager for approval "
                f"({approval.public_id}): {approval.verdict}")
    entry = result.entry
    verb = "Added" if entry.kind == CreditEntry.Kind.GRANT else "Removed"
    return (f"{verb} {format_money(entry.amount, entry.currency)} of credit. Balance: "
            f"{format_money(credit_balance(customer.pk), customer.currency)}; it pays the next invoice first.")


@require_POST
@require_capability(Cap.ISSUE_CREDIT)
def credit_create(request, public_id: str):
    customer = access_customer(request, public_id)
    form = CreditForm(request.POST, currency=customer.currency)

    def service(data):
        change = credit_grant if data["direction"] == CreditEntry.Kind.GRANT else credit_debit
        return change(customer=customer, amount=data["amount"], reason=data["reason"], actor=request.user,
                      request_key=form.request_key(request.user))

    outcome = apply(form, service, error_fields={"credit_insufficient": "amount", "invalid_amount": "amount",
                                                 "invalid_reason": "reason"})
    if not outcome.ok:
        return _dialog(request, CREDIT_TEMPLATE, _credit_context(request, customer, form), status=422)
    return _done(request, customer, credit_message(customer, outcome.result))
