"""JSON API for one customer: `GET/PATCH /api/v1/customers/<cus>` and its payments, activity, notes and tags.

Same access helper, selectors and services as the profile page. The shapes below that carry the customer's data
are marked `@serializes_customer_data`: a response built with them writes the customer's AccessLog row.
"""

from __future__ import annotations

from django.http import JsonResponse

from customers import services
from customers.access import access_customer, access_customer_profile
from customers.api.directory import subscription_state_json
from customers.forms import ActivityFilterForm, PageForm, ProfileForm
from customers.selectors.profile import (
    Page, ProfileOverview, customer_activity, customer_notes, customer_payments, customer_subscriptions,
    customer_tag_names,
)
from payments.models import Invoice
from portal.api import api_view, iso, json_body, money
from portal.access_log import serializes_customer_data
from portal.cursors import InvalidCursor
from portal.errors import ApiError
from portal.money import reporting_currency
from portal.roles import Cap


# ---- Shapes ----------------------------------------------------------------------------------------------------

@serializes_customer_data
def overview_json(overview: ProfileOverview) -> dict:
    customer, metrics, live = overview.customer, overview.metrics, overview.live_subscription
    return {
        "id": customer.public_id,
        "name": customer.full_name,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "phone": customer.phone,
        "address": {"line1": customer.address_line1, "line2": customer.address_line2, "city": customer.city,
                    "postal_code": customer.postal_code, "country": customer.country},
        "status": customer.status,
        "registered_at": iso(customer.registered_at),
        "storefront": {"code": customer.storefront.code, "name": customer.storefront.name,
                       "kind": customer.storefront.kind},
        "region": customer.country,
        "plan": {"code": customer.plan.code, "name": customer.plan.name} if customer.plan else None,
        "renews_at": iso(live.current_period_end) if live and not live.cancel_at_period_end else None,
        "mrr": money(customer.mrr, customer.currency),
        "mrr_reporting": money(customer.mrr_reporting, reporting_currency()),
        "subscription": subscription_state_json(customer),
        "lifetime_value": money(metrics.lifetime_value, customer.currency),
        "total_paid": money(metrics.total_paid, customer.currency),
        "payments_count": metrics.payments_count,
        "figures_computed_at": iso(metrics.computed_at),
        "credit_balance": money(overview.credit_balance, customer.currency),
        "segments": [{"code": s.code, "name": s.name, "reason": s.reason, "since": iso(s.since)}
                     for s in overview.segments],
        "tags": overview.tags,
    }


def method_json(method) -> dict | None:
    """Brand and last four digits only: nothing else about a payment method leaves the server."""
    if method is None:
        return None
    return {"kind": method.kind, "brand": method.brand or None, "last4": method.last4 or None}


@serializes_customer_data
def subscription_json(sub) -> dict:
    """A subscription with its plan, scheduled plan and payment method (join them: select_related)."""
    return {
        "id": sub.public_id,
        "plan": {"code": sub.plan.code, "name": sub.plan.name, "interval": sub.plan.interval},
        "status": sub.status,
        "amount": money(sub.plan.price, sub.plan.currency),
        "started_at": iso(sub.started_at),
        "current_period_end": iso(sub.current_period_end),
        "trial_end": iso(sub.trial_end),
        "current_period_start": iso(sub.current_period_start),
        "cancel_at_period_end": sub.cancel_at_period_end,
        "cancelled_at": iso(sub.cancelled_at),
        "cancel_reason": sub.cancel_reason or None,
        "cancel_after_settle": sub.cancel_after_settle or None,  # "now" / "period_end": waits for a payment
        "paused_at": iso(sub.paused_at),
        "resume_on": sub.resume_on.isoformat() if sub.resume_on else None,
        "scheduled_plan": {"code": sub.scheduled_plan.code, "name": sub.scheduled_plan.name}
        if sub.scheduled_plan_id else None,
        "discount": {"percent": sub.discount_percent, "cycles_left": sub.discount_cycles_left}
        if sub.discount_cycles_left else None,
        "ended_at": iso(sub.ended_at),
        "payment_method": method_json(sub.payment_method),
        **dunning_json(sub),
    }


def dunning_json(sub) -> dict:
    """The dunning schedule of its unpaid invoice: when the first charge failed, and the next retry (null: none
    planned, e.g. until the card changes after a hard decline). Read from customer_subscriptions' annotations when
    the list loaded them, otherwise with one query."""
    if hasattr(sub, "next_retry_at"):
        failed_at, retry_at = sub.payment_failed_at, sub.next_retry_at
    else:
        failed_at, retry_at = (Invoice.objects.filter(subscription=sub, status=Invoice.Status.OPEN,
                                                      payment_failed_at__isnull=False)
                               .order_by("payment_failed_at").values_list("payment_failed_at", "next_retry_at")
                               .first() or (None, None))
    return {"payment_failed_at": iso(failed_at), "next_retry_at": iso(retry_at)}


@serializes_customer_data
def payment_json(payment) -> dict:
    return {
        "id": payment.public_id,
        "created_at": iso(payment.created_at),
        "amount": money(payment.amount, payment.currency),
        "amount_refunded": money(payment.amount_refunded, payment.currency),
        "status": payment.status,
        "failure_message": payment.failure_message or None,
        "payment_method": method_json(payment.payment_method),
        "invoice": {"id": payment.invoice.public_id, "number": payment.invoice.number} if payment.invoice else None,
    }


@serializes_customer_data
def activity_json(event) -> dict:
    return {"created_at": iso(event.created_at), "kind": event.kind, "action": event.action,
            "summary": event.summary, "detail": getattr(event, "detail", None), "source": event.source,
            "actor": event.actor.get_username() if event.actor else None}


@serializes_customer_data
def note_json(note) -> dict:
    return {"body": note.body, "author": note.author.get_username() if note.author else None,
            "created_at": iso(note.created_at)}


@serializes_customer_data
def customer_page_json(customer, page: Page, shape) -> dict:
    """One page of a customer's payments, activity or notes (an empty page still says something about them)."""
    return {"results": [shape(row) for row in page.rows], "next_cursor": page.next_cursor}


@serializes_customer_data
def customer_tags_json(customer, **extra) -> dict:
    return {**extra, "tags": customer_tag_names(customer)}


# ---- Input -----------------------------------------------------------------------------------------------------

def _query(form_class, request) -> dict:
    form = form_class(request.GET)
    if not form.is_valid():
        if form.has_error("cursor", code="invalid_cursor"):
            raise InvalidCursor(" ".join(form.errors["cursor"]))
        raise ApiError(400, "invalid_query",
                       " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()))
    return form.cleaned_data


def _string_field(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(400, "invalid", f"Send \"{name}\" as a string.")
    return value


# ---- Endpoints -------------------------------------------------------------------------------------------------

@api_view(methods=("GET", "PATCH"), capability={"GET": Cap.VIEW_CUSTOMERS, "PATCH": Cap.EDIT_CUSTOMERS})
def customer_detail(request, public_id: str):
    """GET: overview + subscriptions. PATCH {"first_name", "email", …}: change contact details."""
    if request.method == "PATCH":
        _update_profile(request, public_id)
    overview = access_customer_profile(request, public_id)
    data = overview_json(overview)
    data["subscriptions"] = [subscription_json(sub) for sub in customer_subscriptions(overview.customer)]
    return JsonResponse(data)


def _update_profile(request, public_id: str) -> None:
    customer = access_customer(request, public_id)
    body = json_body(request)
    allowed = set(ProfileForm.base_fields)
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, "unknown_field", f"These fields cannot be changed here: {', '.join(unknown)}. "
                                             f"Allowed: {', '.join(sorted(allowed))}.")
    for name in body:
        _string_field(body, name)
    form = ProfileForm.for_partial_update(customer, body)
    if not form.is_valid():
        raise ApiError(422, "invalid", " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()))
    services.customer_profile_update(customer=customer, actor=request.user, **form.cleaned_data)


@api_view(capability=Cap.VIEW_CUSTOMERS)
def customer_payments_list(request, public_id: str):
    customer = access_customer(request, public_id)
    page = customer_payments(customer, after=_query(PageForm, request)["cursor"])
    return JsonResponse(customer_page_json(customer, page, payment_json))


@api_view(capability=Cap.VIEW_CUSTOMERS)
def customer_activity_list(request, public_id: str):
    customer = access_customer(request, public_id)
    query = _query(ActivityFilterForm, request)
    page = customer_activity(customer, kind=query["kind"], after=query["cursor"])
    return JsonResponse(customer_page_json(customer, page, activity_json))


@api_view(methods=("GET", "POST"), capability={"GET": Cap.VIEW_CUSTOMERS, "POST": Cap.EDIT_CUSTOMERS})
def customer_notes_list(request, public_id: str):
    """GET: newest first, paged. POST {"body"}: add a note (201)."""
    if request.method == "POST":
        customer = access_customer(request, public_id)
        body = _string_field(json_body(request), "body")
        note = services.customer_note_add(customer=customer, body=body, actor=request.user)
        return JsonResponse(note_json(note), status=201)
    customer = access_customer(request, public_id)
    page = customer_notes(customer, after=_query(PageForm, request)["cursor"])
    return JsonResponse(customer_page_json(customer, page, note_json))


@api_view(methods=("POST",), capability=Cap.EDIT_CUSTOMERS)
def customer_tag_add(request, public_id: str):
    """POST {"name"}: 201 with the tag as stored (normalised) and the customer's tags."""
    customer = access_customer(request, public_id)
    tag = services.customer_tag_add(customer=customer, name=_string_field(json_body(request), "name"),
                                    actor=request.user)
    return JsonResponse(customer_tags_json(customer, tag=tag.name), status=201)


@api_view(methods=("DELETE",), capability=Cap.EDIT_CUSTOMERS)
def customer_tag_remove(request, public_id: str, name: str):
    customer = access_customer(request, public_id)
    services.customer_tag_remove(customer=customer, name=name, actor=request.user)
    return JsonResponse(customer_tags_json(customer))
