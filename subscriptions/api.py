"""JSON API for subscriptions: the same access helper, rules and services as the profile's dialogs.

- `GET /api/v1/subscriptions/<sub>`: the subscription, and `actions`: every action's verdict (allowed, or the
  sentence that says why not, with a way out such as "cancel_when_settled").
- `POST /api/v1/subscriptions/<sub>/<action>`, each taking `"preview": true` to get the impact without changing
  anything (for cancel, with the retention offer for that reason):
  - `change-plan {"plan": "<plan code>", "when"?: "now" | "renewal"}` (no `when`: upgrades now, downgrades at
    renewal)
  - `cancel {"when": "now" | "period_end", "reason": "<reason code>", "after_settle"?: true}`
  - `undo-cancel`, `resume`, `cancel-scheduled-change` (an empty body or {})
  - `pause {"resume_on"?: "YYYY-MM-DD"}`
  - `extend-trial {"days": 1-90}`

Answers: 200 with `{"preview", "changed", "message", "impact", "subscription", "payment"}` (a repeated request for
the state the subscription is already in answers `"changed": false`); 202 when resuming charged the outstanding
invoice and the gateway has not answered yet. Refusals are `{"error": {"code", "message"}}`: 409 when the
subscription's state refuses (not in this state, a payment pending, changed meanwhile), 422 when the request does
(days out of range, another currency), 400 for a malformed body. Change-plan and resume may charge a card between
their commits, so they run with `commits_in_steps`; every action passes the Idempotency-Key on to its service.
"""

from __future__ import annotations

import re
from datetime import date

from django.http import JsonResponse

from customers.api.profile import payment_json, subscription_json
from portal.access_log import serializes_customer_data
from portal.api import api_view, iso, json_body, json_fields, money
from portal.errors import ApiError
from portal.idempotency import request_key
from portal.roles import Cap
from subscriptions import services
from subscriptions.access import access_subscription
from subscriptions.models import Plan, Subscription

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ---- Shapes ----------------------------------------------------------------------------------------------------

def verdict_json(verdict) -> dict:
    return {"allowed": verdict.allowed, "code": verdict.code or None, "reason": verdict.reason or None,
            "offer": verdict.offer or None}


def impact_json(impact: services.Impact) -> dict:
    currency = impact.currency
    return {
        "action": impact.action,
        "when": impact.when,
        "charge_now": money(impact.charge_now, currency),
        "credit_now": money(impact.credit_now, currency),
        "next_invoice": {"at": iso(impact.next_invoice_at), "amount": money(impact.next_invoice_amount, currency)}
        if impact.next_invoice_at else None,
        "mrr": {"before": money(impact.mrr_before, currency), "after": money(impact.mrr_after, currency),
                "change": money(impact.mrr_after - impact.mrr_before, currency)},
        "summary": impact.summary,
        "lines": impact.lines,
    }


@serializes_customer_data
def subscription_detail_json(subscription: Subscription, user) -> dict:
    verdicts = services.action_verdicts(subscription, actor=user)
    return {**subscription_json(subscription), "customer": subscription.customer.public_id,
            "actions": {name: verdict_json(verdict) for name, verdict in verdicts.items()}}


def result_json(result: services.ActionResult, *, preview: bool) -> dict:
    """What an action did (or, previewed, would do); its subscription's shape discloses the customer."""
    return {"preview": preview, "changed": result.changed, "message": result.message,
            "impact": impact_json(result.impact), "subscription": subscription_json(result.subscription),
            "payment": payment_json(result.payment) if result.payment is not None else None}


def cancel_offer_json(subscription: Subscription, reason: str) -> dict | None:
    """The retention offer a cancel preview shows for this reason (subscriptions.RetentionOffer terms). This API
    makes none yet: null."""
    return None


# ---- Request bodies --------------------------------------------------------------------------------------------

def _body(request, allowed: set[str], required: set[str] = frozenset()) -> tuple[dict, bool]:
    body = json_body(request)
    json_fields(body, allowed | {"preview"}, required)
    preview = body.get("preview", False)
    if not isinstance(preview, bool):
        raise ApiError(400, "invalid_preview", "\"preview\" is true or false.")
    return body, preview


def _choice(body: dict, name: str, choices, *, optional: bool = False) -> str | None:
    value = body.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in choices:
        raise ApiError(400, f"invalid_{name}", f"\"{name}\" is one of: {', '.join(choices)}.")
    return value


def _answer(result: services.ActionResult, preview: bool, **extra) -> JsonResponse:
    data = {**result_json(result, preview=preview), **extra}
    return JsonResponse(data, status=202 if result.payment is not None and not result.changed and not preview
                        else 200)


# ---- Endpoints -------------------------------------------------------------------------------------------------

@api_view(methods=("GET",), capability=Cap.VIEW_CUSTOMERS)
def subscription_detail(request, public_id: str):
    subscription = access_subscription(request, public_id)
    return JsonResponse(subscription_detail_json(subscription, request.user))


@api_view(methods=("POST",), capability=Cap.MANAGE_SUBSCRIPTIONS, commits_in_steps=True)
def subscription_change_plan(request, public_id: str):
    subscription = access_subscription(request, public_id)
    body, preview = _body(request, {"plan", "when"}, {"plan"})
    code = body["plan"]
    if not isinstance(code, str) or not code:
        raise ApiError(400, "invalid_plan", "\"plan\" is a plan's code.")
    plan = Plan.objects.filter(code=code).first()
    if plan is None:
        raise ApiError(422, "unknown_plan", "No plan has this code.")
    when = _choice(body, "when", services.PLAN_CHANGE_WHEN, optional=True)
    result = services.subscription_change_plan(subscription=subscription, plan=plan, when=when, actor=request.user,
                                               preview=preview, request_key=request_key(request))
    return _answer(result, preview)


@api_view(methods=("POST",), capability=Cap.MANAGE_SUBSCRIPTIONS)
def subscription_cancel(request, public_id: str):
    subscription = access_subscription(request, public_id)
    body, preview = _body(request, {"when", "reason", "after_settle"}, {"when", "reason"})
    when = _choice(body, "when", services.CANCEL_WHEN)
    reason = _choice(body, "reason", Subscription.CancelReason.values)
    after_settle = body.get("after_settle", False)
    if not isinstance(after_settle, bool):
        raise ApiError(400, "invalid_after_settle", "\"after_settle\" is true or false.")
    result = services.subscription_cancel(subscription=subscription, when=when, reason=reason, actor=request.user,
                                          preview=preview, after_settle=after_settle,
                                          request_key=request_key(request))
    extra = {"offer": cancel_offer_json(result.subscription, reason)} if preview else {}
    return _answer(result, preview, **extra)


@api_view(methods=("POST",), capability=Cap.MANAGE_SUBSCRIPTIONS)
def subscription_undo_cancel(request, public_id: str):
    subscription = access_subscription(request, public_id)
    _, preview = _body(request, set())
    result = services.subscription_cancel_undo(subscription=subscription, actor=request.user, preview=preview,
                                               request_key=request_key(request))
    return _answer(result, preview)


@api_view(methods=("POST",), capability=Cap.MANAGE_SUBSCRIPTIONS)
def subscription_pause(request, public_id: str):
    subscription = access_subscription(request, public_id)
    body, preview = _body(request, {"resume_on"})
    raw = body.get("resume_on")
    resume_on = None
    if raw is not None:
        try:
            if not isinstance(raw, str) or not _ISO_DATE.match(raw):
                raise ValueError(raw)
            resume_on = date.fromisoformat(raw)
        except ValueError:
            raise ApiError(400, "invalid_resume_on", "\"resume_on\" is a date like 2030-01-31, or null.") from None
    result = services.subscription_pause(subscription=subscription, resume_on=resume_on, actor=request.user,
                                         preview=preview, request_key=request_key(request))
    return _answer(result, preview)


@api_view(methods=("POST",), capability=Cap.MANAGE_SUBSCRIPTIONS, commits_in_steps=True)
def subscription_resume(request, public_id: str):
    subscription = access_subscription(request, public_id)
    _, preview = _body(request, set())
    result = services.subscription_resume(subscription=subscription, actor=request.user, preview=preview,
                                          request_key=request_key(request))
    return _answer(result, preview)


@api_view(methods=("POST",), capability=Cap.MANAGE_SUBSCRIPTIONS)
def subscription_extend_trial(request, public_id: str):
    subscription = access_subscription(request, public_id)
    body, preview = _body(request, {"days"}, {"days"})
    days = body["days"]
    if isinstance(days, bool) or not isinstance(days, int):
        raise ApiError(400, "invalid_days", "\"days\" is a whole number of days.")
    result = services.subscription_extend_trial(subscription=subscription, days=days, actor=request.user,
                                                preview=preview, request_key=request_key(request))
    return _answer(result, preview)


@api_view(methods=("POST",), capability=Cap.MANAGE_SUBSCRIPTIONS)
def subscription_cancel_scheduled_change(request, public_id: str):
    subscription = access_subscription(request, public_id)
    _, preview = _body(request, set())
    result = services.subscription_scheduled_change_cancel(subscription=subscription, actor=request.user,
                                                           preview=preview, request_key=request_key(request))
    return _answer(result, preview)
