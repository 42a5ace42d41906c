"""The Stripe gateway: PaymentIntents for charges, Refunds, SetupIntents for new cards (the official `stripe` library).

Settings: STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY, STRIPE_API_BASE (empty: Stripe itself; a localstripe URL in
tests and demos), GATEWAY_TIMEOUT_SECONDS. The library never retries by itself (max_network_retries=0): the portal
retries with the same idempotency key, or asks `charge_status` / `refund_status`.

A charge is two requests, so that a lost answer can always be looked up by the PaymentIntent's id:

1. `PaymentIntent.create(confirm=False)` (key `<key>:create`). Nothing is charged by it. If it fails in any way,
   timeouts included, the confirm is never sent, so the answer is a sure `failed` ("nothing was charged", soft,
   no ref): `gateway_timeout` when Stripe could not be reached or did not answer, `gateway_error` for a 5xx or a
   refused key, or Stripe's own code for a request it refused (hard: retrying the same request cannot help).
2. `PaymentIntent.confirm` (key `<key>:confirm`). A decline answers `failed` (DECLINES says hard or soft); a
   timeout, a network error or a 5xx answers `unknown` with the PaymentIntent's id as ref; any other refusal is
   settled by reading the PaymentIntent back.

`charge_status(ref=...)` reads the PaymentIntent. Without a ref (the process stopped between sending the charge and
recording its answer) it searches PaymentIntents for the key, which step 1 stores in the metadata (`portal_key`):
found, its state; Stripe's search answering none, `failed` (`never_confirmed`); a server without search
(localstripe), `unknown`, left to a person.

Refunds carry the key in their metadata too, so `refund_status` without a ref lists the refunds of the
PaymentIntent and finds it there; none found means none was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import stripe
from django.conf import settings

from payments.gateways.base import (
    ChargeResult, GatewayUnavailable, RefundResult, SavedMethod, SetupResult, SetupSession,
)

# Decline codes (Stripe's `decline_code`, or the error's `code` when there is none) → hard? A hard decline will
# not pass by retrying the same card: the customer must act (a new card, or authenticate the payment themselves).
# Codes not listed are soft, so dunning retries them: that includes a bare `card_declined` ("generic decline",
# the bank gave no reason), which often passes a few days later.
DECLINES: dict[str, bool] = {
    "lost_card": True,
    "stolen_card": True,
    "pickup_card": True,
    "expired_card": True,
    "incorrect_number": True,
    "invalid_number": True,
    "invalid_account": True,
    "incorrect_cvc": True,
    "invalid_cvc": True,
    "invalid_expiry_month": True,
    "invalid_expiry_year": True,
    "card_not_supported": True,
    "currency_not_supported": True,
    "restricted_card": True,
    "security_violation": True,
    "transaction_not_allowed": True,
    "revocation_of_authorization": True,
    "revocation_of_all_authorizations": True,
    "stop_payment_order": True,
    "do_not_honor": True,
    "fraudulent": True,
    "merchant_blacklist": True,
    "authentication_required": True,
    "payment_intent_authentication_failure": True,
    "insufficient_funds": False,
    "processing_error": False,
    "try_again_later": False,
    "issuer_not_available": False,
    "reenter_transaction": False,
    "card_velocity_exceeded": False,
    "withdrawal_count_limit_exceeded": False,
    "generic_decline": False,
    "card_declined": False,
}

MESSAGES = {
    "insufficient_funds": "The card has insufficient funds.",
    "authentication_required": "The card's bank asks the customer to authenticate this payment; they need to pay "
                               "or confirm the card themselves.",
    "expired_card": "The card has expired.",
    "lost_card": "The card was reported lost.",
    "stolen_card": "The card was reported stolen.",
}
TIMEOUT = "The payment gateway did not answer in time."
PUBLIC_JS_URL = "https://js.stripe.com/v3/"


def _is_hard(code: str) -> bool:
    return DECLINES.get(code, False)


def _decline(code: str, message: str, ref: str) -> ChargeResult:
    code = code or "card_declined"
    return ChargeResult("failed", ref=ref, failure_code=code, hard_decline=_is_hard(code),
                        failure_message=MESSAGES.get(code) or message or "The card was declined.")


def _card_error_code(error: stripe.StripeError) -> str:
    detail = getattr(error, "error", None)
    return (getattr(detail, "decline_code", None) if detail is not None else None) or error.code or "card_declined"


def _uncertain(error: stripe.StripeError) -> bool:
    """No answer, a server error, or another request with the same key still running (409): the request may or
    may not have been carried out."""
    return (isinstance(error, stripe.APIConnectionError) or (error.http_status or 0) >= 500
            or (error.http_status == 409 and not isinstance(error, stripe.IdempotencyError)))


def _not_started(error: stripe.StripeError) -> ChargeResult:
    """The PaymentIntent could not be created, so it was never confirmed: this request charged nothing."""
    if isinstance(error, stripe.IdempotencyError):
        return ChargeResult("failed", failure_code="idempotency_error",
                            failure_message="This payment's key was already used for a different payment at the "
                                            "gateway; this request charged nothing.")
    if isinstance(error, stripe.APIConnectionError):
        code, hard = "gateway_timeout", False
    elif _uncertain(error) or isinstance(error, (stripe.AuthenticationError, stripe.PermissionError,
                                                 stripe.RateLimitError)):
        code, hard = "gateway_error", False  # Stripe's trouble or our configuration: the card is not at fault
    else:
        code, hard = error.code or "invalid_request", True  # a request Stripe refuses is refused again
    return ChargeResult("failed", failure_code=code, hard_decline=hard,
                        failure_message="The payment gateway could not start the payment; nothing was charged.")


def charge_result_from_intent(intent: dict[str, Any]) -> ChargeResult:
    """What a PaymentIntent (as a dict: an API answer or a webhook event's object) says about the charge."""
    ref, status = intent.get("id", ""), intent.get("status")
    if status == "succeeded":
        return ChargeResult("succeeded", ref=ref)
    if status in ("processing", "requires_capture"):
        return ChargeResult("pending", ref=ref)
    if status == "requires_action":
        return _decline("authentication_required", "", ref)
    error = intent.get("last_payment_error") or {}
    if status == "requires_payment_method" and error:
        return _decline(error.get("decline_code") or error.get("code") or "", error.get("message") or "", ref)
    if status == "canceled":
        return ChargeResult("failed", ref=ref, failure_code="canceled",
                            failure_message="The payment was canceled at the gateway; nothing was charged.")
    return ChargeResult("failed", ref=ref, failure_code="never_confirmed",
                        failure_message="The payment was never confirmed at the gateway; nothing was charged.")


def refund_result_from_refund(refund: dict[str, Any]) -> RefundResult:
    """What a Refund (as a dict) says. Stripe's `requires_action` waits on the customer: pending."""
    ref, status = refund.get("id", ""), refund.get("status")
    if status == "succeeded":
        return RefundResult("succeeded", ref=ref)
    if status in ("pending", "requires_action"):
        return RefundResult("pending", ref=ref)
    if status in ("failed", "canceled"):
        reason = refund.get("failure_reason") or status
        return RefundResult("failed", ref=ref, failure_code=reason,
                            failure_message="The refund failed at the gateway; nothing was refunded.")
    return RefundResult("unknown", ref=ref, failure_message=f"The gateway answered an unknown refund state {status!r}.")


def stripe_js_url(api_base: str) -> str:
    """Where the card page loads Stripe.js from: Stripe's, or the fake one a localstripe server serves."""
    return f"{api_base.rstrip('/')}/js.stripe.com/v3/" if api_base else PUBLIC_JS_URL


def _search_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


@dataclass(frozen=True)
class StripeGateway:
    api_key: str
    api_base: str
    timeout: int
    name: str = "stripe"

    @property
    def v1(self):
        return _client(self.api_key, self.api_base, self.timeout).v1

    # ---- Charges ----

    def charge(self, *, amount: int, currency: str, customer_ref: str, method_ref: str, key: str,
               metadata: dict[str, str]) -> ChargeResult:
        if not key:
            raise ValueError("A charge needs an idempotency key.")
        params = {"amount": amount, "currency": currency.lower(), "payment_method": method_ref, "confirm": False,
                  "metadata": {**metadata, "portal_key": key}}
        if customer_ref:
            params["customer"] = customer_ref
        try:
            intent = self.v1.payment_intents.create(params=params, options={"idempotency_key": f"{key}:create"})
        except stripe.StripeError as error:  # never confirmed: this request charged nothing, whatever happened
            return _not_started(error)
        try:
            confirmed = self.v1.payment_intents.confirm(
                intent.id, params={"off_session": True} if settings.STRIPE_OFF_SESSION else None,
                options={"idempotency_key": f"{key}:confirm"})
        except stripe.CardError as error:
            return _decline(_card_error_code(error), error.user_message or "", intent.id)
        except stripe.StripeError as error:
            if _uncertain(error):
                return ChargeResult("unknown", ref=intent.id, failure_code="timeout", failure_message=TIMEOUT)
            # Refused: the PaymentIntent says whether an earlier confirm went through; if none did, Stripe's reason.
            state = self.charge_status(ref=intent.id, key=key)
            if state.failure_code != "never_confirmed":
                return state
            return ChargeResult("failed", ref=intent.id, failure_code=error.code or "gateway_error",
                                hard_decline=not isinstance(error, stripe.RateLimitError),
                                failure_message=f"The payment gateway refused the payment "
                                                f"({error.user_message or error.code}); nothing was charged.")
        return charge_result_from_intent(confirmed.to_dict())

    def charge_status(self, *, ref: str, key: str) -> ChargeResult:
        try:
            if ref:
                return charge_result_from_intent(self.v1.payment_intents.retrieve(ref).to_dict())
            found = self.v1.payment_intents.search(
                params={"query": f"metadata['portal_key']:'{_search_value(key)}'", "limit": 1})
        except stripe.StripeError as error:
            if ref and error.http_status == 404:
                return ChargeResult("failed", ref=ref, failure_code="not_found",
                                    failure_message="The payment gateway has no such payment; nothing was charged.")
            return ChargeResult("unknown", ref=ref, failure_code="timeout" if _uncertain(error) else "not_searchable",
                                failure_message=TIMEOUT if _uncertain(error) else
                                "The payment gateway cannot find a payment without its id; check it by hand.")
        if found.data:
            return charge_result_from_intent(found.data[0].to_dict())
        return ChargeResult("failed", failure_code="never_confirmed",
                            failure_message="The payment never reached the gateway; nothing was charged.")

    # ---- Refunds ----

    def refund(self, *, charge_ref: str, amount: int, currency: str, key: str,
               metadata: dict[str, str]) -> RefundResult:
        if not key:
            raise ValueError("A refund needs an idempotency key.")
        params = {"payment_intent": charge_ref, "amount": amount, "metadata": {**metadata, "portal_key": key}}
        try:
            refund = self.v1.refunds.create(params=params, options={"idempotency_key": key})
        except stripe.StripeError as error:
            if _uncertain(error):
                return RefundResult("unknown", failure_code="timeout", failure_message=TIMEOUT)
            if isinstance(error, stripe.IdempotencyError):
                code = "idempotency_error"
            elif isinstance(error, stripe.InvalidRequestError):
                code = error.code or "invalid_request"  # charge_already_refunded, charge_disputed, amount_too_large…
            else:
                code = "gateway_error"
            reason = error.user_message or code
            return RefundResult("failed", failure_code=code,
                                failure_message=f"The payment gateway refused the refund ({reason}); nothing was "
                                                "refunded.")
        return refund_result_from_refund(refund.to_dict())

    def refund_status(self, *, ref: str, charge_ref: str, key: str) -> RefundResult:
        try:
            if ref:
                return refund_result_from_refund(self.v1.refunds.retrieve(ref).to_dict())
            listed = self.v1.refunds.list(params={"payment_intent": charge_ref, "limit": 100})
            for refund in listed.auto_paging_iter():
                if (refund.to_dict().get("metadata") or {}).get("portal_key") == key:
                    return refund_result_from_refund(refund.to_dict())
        except stripe.StripeError as error:
            if error.http_status == 404:
                return RefundResult("failed", ref=ref, failure_code="not_found",
                                    failure_message="The payment gateway has no such refund; nothing was refunded.")
            return RefundResult("unknown", ref=ref, failure_code="timeout", failure_message=TIMEOUT)
        return RefundResult("failed", failure_code="not_found",
                            failure_message="The refund never reached the gateway; nothing was refunded.")

    # ---- New cards ----

    def setup_start(self, *, customer_ref: str, key: str) -> SetupSession:
        """Raises GatewayUnavailable when Stripe cannot be asked (the card page says so and offers a retry)."""
        if not key:
            raise ValueError("A card setup needs an idempotency key.")
        try:
            if not customer_ref:
                customer_ref = self.v1.customers.create(params={"metadata": {"portal_key": key}},
                                                        options={"idempotency_key": f"{key}:customer"}).id
            intent = self.v1.setup_intents.create(
                params={"customer": customer_ref, "payment_method_types": ["card"], "usage": "off_session",
                        "metadata": {"portal_key": key}},
                options={"idempotency_key": f"{key}:setup"})
        except stripe.StripeError as error:
            raise GatewayUnavailable(f"Stripe could not start the card form: {error.user_message or error}") from error
        return SetupSession(ref=intent.id, customer_ref=customer_ref, client_secret=intent.client_secret,
                            extra={"publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
                                   "js_url": stripe_js_url(self.api_base)})

    def setup_finish(self, *, session_ref: str, customer_ref: str, submitted: dict[str, str]) -> SetupResult:
        """`submitted`: {"setup_intent": id}, the SetupIntent the card page confirmed with Stripe.js. Its card is
        attached to the customer when Stripe has not done it (localstripe does not)."""
        if (submitted.get("setup_intent") or session_ref) != session_ref:
            return SetupResult("failed", failure_code="session_mismatch",
                               failure_message="The card form does not match this link; open the link again.")
        try:
            intent = self.v1.setup_intents.retrieve(session_ref).to_dict()
            if intent.get("status") != "succeeded":
                return self._setup_not_done(intent)
            method_id = intent["payment_method"]
            method_id = method_id["id"] if isinstance(method_id, dict) else method_id
            customer_ref = intent.get("customer") or customer_ref
            method = self.v1.payment_methods.retrieve(method_id).to_dict()
            if method.get("customer") != customer_ref:
                method = self.v1.payment_methods.attach(method_id, params={"customer": customer_ref}).to_dict()
        except stripe.CardError as error:
            return SetupResult("failed", failure_code=_card_error_code(error),
                               failure_message=error.user_message or "The card was declined.")
        except stripe.StripeError as error:
            if _uncertain(error):
                return SetupResult("unknown", failure_code="timeout", failure_message=TIMEOUT)
            return SetupResult("failed", failure_code=error.code or "gateway_error",
                               failure_message="The payment gateway could not save the card; please try again.")
        card = method.get("card") or {}
        return SetupResult("succeeded", method=SavedMethod(
            ref=method_id, customer_ref=customer_ref, brand=card.get("brand", ""), last4=card.get("last4", ""),
            exp_month=card.get("exp_month"), exp_year=card.get("exp_year")))

    @staticmethod
    def _setup_not_done(intent: dict[str, Any]) -> SetupResult:
        status = intent.get("status")
        if status == "processing":
            return SetupResult("unknown", failure_code="processing",
                               failure_message="The card is still being checked; try again in a moment.")
        error = intent.get("last_setup_error") or {}
        if status == "requires_action":
            return SetupResult("failed", failure_code="authentication_required",
                               failure_message="The card's bank asked for authentication, which was not completed.")
        return SetupResult("failed", failure_code=error.get("decline_code") or error.get("code") or "card_not_saved",
                           failure_message=error.get("message") or "The card was not saved; please try again.")


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str, timeout: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key, base_addresses={"api": api_base} if api_base else None, max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=timeout))


def stripe_gateway() -> StripeGateway:
    """The adapter for the current settings (one client per key, base and timeout, built on first use)."""
    return StripeGateway(api_key=settings.STRIPE_SECRET_KEY, api_base=settings.STRIPE_API_BASE,
                         timeout=settings.GATEWAY_TIMEOUT_SECONDS)
