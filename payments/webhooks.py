"""Stripe's webhook: POST /webhooks/stripe/. Signed events about charges, refunds and disputes.

Each delivery is verified (stripe.Webhook.construct_event: HMAC-SHA256 of the timestamp and the raw body with
STRIPE_WEBHOOK_SECRET, at most 300 s old); a bad one gets 400 and changes nothing. A verified event is recorded as a
`GatewayEvent` in the same transaction as its effect: its id is unique, so a repeated delivery, even one racing the
first, waits for the first to commit and then does nothing. Events of other types are recorded and otherwise
ignored. The effects are a few row updates (payments/outcomes.py), so Stripe gets its answer at once.

An event about a payment or refund the portal has no row for (not made by the portal, or its ref not recorded yet)
changes nothing; reconciliation asks the gateway about every payment and refund still unsettled.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import stripe
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import JsonResponse, RawPostDataException
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments import outcomes
from payments.gateways.stripe_gateway import charge_result_from_intent, refund_result_from_refund
from payments.models import GatewayEvent
from portal.context import action_source

TOLERANCE_SECONDS = 300
GATEWAY = "stripe"


# ---- What each event type does -----------------------------------------------------------------------------------

def _payment_intent(intent: dict[str, Any]) -> None:
    if intent.get("id"):
        outcomes.charge_outcome_apply(gateway=GATEWAY, ref=intent["id"], result=charge_result_from_intent(intent))


def _refund(refund: dict[str, Any]) -> None:
    if refund.get("id"):
        outcomes.refund_outcome_apply(gateway=GATEWAY, ref=refund["id"], result=refund_result_from_refund(refund))


def _charge_refunds(charge: dict[str, Any]) -> None:
    """charge.refunded: each refund the charge lists (newer API versions list none: the refund.* events say it)."""
    refunds = charge.get("refunds")
    for refund in (refunds.get("data") if isinstance(refunds, dict) else None) or []:
        if isinstance(refund, dict):
            _refund(refund)


def _dispute(disputed: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], None]:
    def apply(dispute: dict[str, Any]) -> None:
        payment_intent = dispute.get("payment_intent")
        if isinstance(payment_intent, dict):
            payment_intent = payment_intent.get("id")
        if isinstance(payment_intent, str) and payment_intent:
            outcomes.payment_dispute_set(gateway=GATEWAY, charge_ref=payment_intent, disputed=disputed(dispute))
    return apply


# A closed dispute the merchant won gives the money back to the business: refunds are possible again. A lost one
# has already returned the money to the customer, so the payment stays blocked for refunds.
def _still_blocked(dispute: dict[str, Any]) -> bool:
    return dispute.get("status") not in ("won", "warning_closed")


HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "payment_intent.succeeded": _payment_intent,
    "payment_intent.payment_failed": _payment_intent,
    "payment_intent.processing": _payment_intent,
    "charge.refunded": _charge_refunds,
    "charge.refund.updated": _refund,
    "refund.created": _refund,
    "refund.updated": _refund,
    "charge.dispute.created": _dispute(lambda dispute: True),
    "charge.dispute.closed": _dispute(_still_blocked),
}


# ---- The endpoint ------------------------------------------------------------------------------------------------

def _refused(code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=400)


def _verified_event(request) -> dict[str, Any] | JsonResponse:
    """The event, once its signature, age and shape are right; otherwise the 400 that says what is wrong."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return _refused("not_configured", "This portal takes no Stripe events (STRIPE_WEBHOOK_SECRET is not set).")
    try:
        payload = request.body
    except (RawPostDataException, RequestDataTooBig):
        return _refused("bad_payload", "The body is not a Stripe event.")
    try:
        stripe.Webhook.construct_event(payload, request.headers.get("Stripe-Signature", ""), secret,
                                       tolerance=TOLERANCE_SECONDS)
        event = json.loads(payload)
    except stripe.SignatureVerificationError:
        return _refused("bad_signature", "The Stripe-Signature header does not match this body, or is too old.")
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):  # a signed body that is not an event
        return _refused("bad_payload", "The body is not a Stripe event.")
    if not (isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get("type"), str)
            and 0 < len(event["id"]) <= 100 and len(event["type"]) <= 100):
        return _refused("bad_payload", "The body is not a Stripe event.")
    return event


@csrf_exempt  # Stripe signs its requests; it holds no CSRF token
@login_not_required
@require_POST
def stripe_webhook(request):
    event = _verified_event(request)
    if isinstance(event, JsonResponse):
        return event
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    obj = obj if isinstance(obj, dict) else {}
    object_ref = obj.get("id") if isinstance(obj.get("id"), str) else ""
    handler = HANDLERS.get(event["type"])
    with action_source("system"), transaction.atomic():
        try:
            with transaction.atomic():  # a concurrent delivery of the same event waits here for the first one
                GatewayEvent.objects.create(gateway=GATEWAY, event_id=event["id"], type=event["type"],
                                            object_ref=object_ref[:100], received_at=timezone.now())
        except IntegrityError:
            return JsonResponse({"received": True, "duplicate": True})
        if handler is not None:
            handler(obj)
    return JsonResponse({"received": True})
