"""JSON API for the money actions: the same access helpers, policy and services as the profile's dialogs.

- `GET /api/v1/payments/<pay>`: the payment, what is still refundable, and what the refund and retry rules say.
- `GET|POST /api/v1/payments/<pay>/refunds {"amount", "reason", "note"?}` → 201 with the refund, or 202 with the
  approval request when the policy sends it to a manager.
- `POST /api/v1/payments/<pay>/retry` → 201 with the new attempt (200 with `"payment": null` when the customer's
  credit paid the invoice).
- `GET|POST /api/v1/customers/<cus>/credits {"amount", "reason", "direction"?: "grant"|"debit"}` → 201 with the
  ledger entry, or 202 with the approval request.
- `POST /api/v1/customers/<cus>/payment-method-link` (empty body or {}) → 201 with the card-update link's id,
  expiry and the id of the email that carries it (never the URL).

Amounts are integer minor units. The refund and retry endpoints call the gateway between their commits, so they
run with `commits_in_steps` (portal/idempotency.py): an Idempotency-Key still executes them once.
"""

from __future__ import annotations

from django.http import JsonResponse

from customers.access import access_customer
from customers.models import Customer
from payments import card_links
from customers.api.profile import payment_json
from payments.access import access_payment
from payments.charges import payment_retry, retry_verdict
from payments.credit import credit_balance, credit_debit, credit_grant
from payments.models import CreditEntry, Payment, Refund
from payments.policy import refund_verdict
from payments.refunds import refund_issue
from portal.access_log import serializes_customer_data
from portal.api import api_view, iso, json_body, json_fields, money
from portal.errors import ApiError
from portal.idempotency import request_key
from portal.roles import Cap


def verdict_json(verdict) -> dict:
    return {"decision": verdict.decision, "code": verdict.code or None, "reason": verdict.reason or None}


@serializes_customer_data
def refund_json(refund: Refund) -> dict:
    return {
        "id": refund.public_id,
        "payment": refund.payment.public_id,
        "amount": money(refund.amount, refund.currency),
        "status": refund.status,
        "reason": refund.reason_code or None,
        "note": refund.reason or None,
        "failure_message": refund.failure_message or None,
        "created_at": iso(refund.created_at),
        "settled_at": iso(refund.settled_at),
    }


@serializes_customer_data
def refund_list_json(payment: Payment) -> dict:
    refunds = list(payment.refunds.order_by("created_at", "id"))
    for refund in refunds:
        refund.payment = payment
    return {"payment": payment.public_id, "refundable": money(payment.refundable_amount(), payment.currency),
            "data": [refund_json(refund) for refund in refunds]}


def approval_brief_json(approval) -> dict:
    return {"id": approval.public_id, "kind": approval.kind, "status": approval.status,
            "amount": money(approval.amount, approval.currency) if approval.amount is not None else None,
            "verdict": approval.verdict, "expires_at": iso(approval.expires_at)}


@serializes_customer_data
def payment_detail_json(payment: Payment, user) -> dict:
    return {
        **payment_json(payment),
        "amount_refund_pending": money(payment.amount_refund_pending, payment.currency),
        "refundable": money(payment.refundable_amount(), payment.currency),
        "disputed": payment.disputed,
        "decline_type": payment.decline_type or None,
        "attempt": payment.attempt,
        "refund_policy": verdict_json(refund_verdict(payment=payment, actor=user)),
        "retry": verdict_json(retry_verdict(payment, actor=user)) if payment.status == Payment.Status.FAILED
        else None,
    }


def _amount(body: dict) -> int:
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ApiError(400, "invalid_amount", "\"amount\" is a whole number of minor units above zero (1250 = 12.50).")
    return amount


def _text(body: dict, name: str, *, required: bool) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ApiError(400, f"invalid_{name}", f"\"{name}\" is {'required ' if required else ''}text.")
    return value


@api_view(methods=("GET",), capability=Cap.VIEW_CUSTOMERS)
def payment_detail(request, public_id: str):
    payment = access_payment(request, public_id)
    return JsonResponse(payment_detail_json(payment, request.user))


@api_view(methods=("GET", "POST"), capability={"GET": Cap.VIEW_CUSTOMERS, "POST": Cap.REFUND_PAYMENTS},
          commits_in_steps=True)
def payment_refunds(request, public_id: str):
    payment = access_payment(request, public_id)
    if request.method == "GET":
        return JsonResponse(refund_list_json(payment))
    body = json_body(request)
    json_fields(body, {"amount", "reason", "note"}, {"amount", "reason"})
    reason = body["reason"]
    if reason not in Refund.Reason.values:
        raise ApiError(400, "invalid_reason", f"\"reason\" is one of: {', '.join(Refund.Reason.values)}.")
    result = refund_issue(payment=payment, amount=_amount(body), reason_code=reason,
                          note=_text(body, "note", required=False), actor=request.user,
                          request_key=request_key(request))
    if result.approval is not None:
        return JsonResponse({"approval": approval_brief_json(result.approval)}, status=202)
    refund = Refund.objects.select_related("payment").get(pk=result.refund.pk)
    return JsonResponse(refund_json(refund), status=201)


@api_view(methods=("POST",), capability=Cap.RETRY_PAYMENTS, commits_in_steps=True)
def payment_retry_endpoint(request, public_id: str):
    payment = access_payment(request, public_id)
    json_fields(json_body(request), set(), set())
    attempt = payment_retry(payment=payment, actor=request.user, request_key=request_key(request))
    invoice = {"id": attempt.invoice.public_id, "number": attempt.invoice.number}
    credit = money(attempt.credit_applied, attempt.invoice.currency)
    if attempt.payment is None:
        attempt.invoice.refresh_from_db()
        return JsonResponse({"payment": None, "invoice": {**invoice, "status": attempt.invoice.status},
                             "credit_applied": credit}, status=200)
    new = Payment.objects.select_related("payment_method", "invoice").get(pk=attempt.payment.pk)
    return JsonResponse({"payment": {**payment_json(new), "decline_type": new.decline_type or None,
                                     "attempt": new.attempt},
                         "invoice": invoice, "credit_applied": credit}, status=201)


@serializes_customer_data
def credit_entry_json(entry: CreditEntry) -> dict:
    return {"id": entry.pk, "kind": entry.kind, "amount": money(entry.amount, entry.currency), "reason": entry.reason,
            "invoice": entry.invoice.public_id if entry.invoice_id else None, "created_at": iso(entry.created_at)}


@serializes_customer_data
def credit_ledger_json(customer) -> dict:
    """The balance and the newest 100 ledger entries."""
    entries = (CreditEntry.objects.filter(customer=customer).select_related("invoice")
               .order_by("-created_at", "-id")[:100])
    return {"customer": customer.public_id, "balance": money(credit_balance(customer.pk), customer.currency),
            "data": [credit_entry_json(entry) for entry in entries]}


@api_view(methods=("GET", "POST"), capability={"GET": Cap.VIEW_CUSTOMERS, "POST": Cap.ISSUE_CREDIT})
def customer_credits(request, public_id: str):
    customer = access_customer(request, public_id)
    if request.method == "GET":
        return JsonResponse(credit_ledger_json(customer))
    body = json_body(request)
    json_fields(body, {"amount", "reason", "direction"}, {"amount", "reason"})
    direction = body.get("direction", CreditEntry.Kind.GRANT)
    if direction not in (CreditEntry.Kind.GRANT, CreditEntry.Kind.DEBIT):
        raise ApiError(400, "invalid_direction", "\"direction\" is \"grant\" or \"debit\".")
    change = credit_grant if direction == CreditEntry.Kind.GRANT else credit_debit
    result = change(customer=customer, amount=_amount(body), reason=_text(body, "reason", required=True),
                    actor=request.user, request_key=request_key(request))
    if result.approval is not None:
        return JsonResponse({"approval": approval_brief_json(result.approval)}, status=202)
    return JsonResponse({**credit_entry_json(result.entry),
                         "balance": money(credit_balance(customer.pk), customer.currency)}, status=201)


# ---- Card-update links -----------------------------------------------------------------------------------------

def card_link_json(link) -> dict:
    """The link by id, when it stops working and the email that carries it; never the URL (the email has it)."""
    return {"id": link.public_id, "customer": link.customer.public_id, "expires_at": iso(link.expires_at),
            "used_at": iso(link.used_at), "email": {"id": link.email.public_id if link.email_id else None}}


@api_view(methods=("POST",), capability=Cap.CONTACT_CUSTOMERS)
def customer_card_link(request, public_id: str):
    """Issue a card-update link and email it to the customer (201). 422 with the reason for an erased, app-store
    billed or address-less customer. An Idempotency-Key makes a retry answer the same link."""
    customer = access_customer(request, public_id, queryset=Customer.objects.select_related("storefront"))
    unknown = sorted(json_body(request))
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown fields: {', '.join(unknown)}. Send an empty body or {{}}.")
    link = card_links.card_link_send(customer=customer, actor=request.user, request_key=request_key(request))
    return JsonResponse(card_link_json(link), status=201)
