"""The Stripe adapter against localstripe (a stateful fake of Stripe's API): charges in two steps, declines, refunds
found again by key, card setup as the card page does it, and answers lost on the way back."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
import stripe

from payments.gateways import get_gateway
from payments.gateways.stripe_gateway import DECLINES, StripeGateway, stripe_js_url
from tests.payments.conftest import SECRET_KEY

pytestmark = pytest.mark.usefixtures("stripe_settings")


@pytest.fixture
def gateway() -> StripeGateway:
    return get_gateway("stripe")


@pytest.fixture
def api(localstripe_url):
    """Stripe's API as the tests (and the card page's Stripe.js) reach it."""
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe_url}, max_network_retries=0).v1


def new_card(api, number: str = "4242424242424242") -> str:
    return api.payment_methods.create(params={"type": "card", "card": {
        "number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}).id


@pytest.fixture
def customer(api) -> str:
    return api.customers.create(params={}).id


def saved_card(api, customer: str, number: str = "4242424242424242") -> str:
    method = new_card(api, number)
    api.payment_methods.attach(method, params={"customer": customer})
    return method


def charge(gateway, customer, method, *, key="charge-1", amount=2500):
    return gateway.charge(amount=amount, currency="USD", customer_ref=customer, method_ref=method, key=key,
                          metadata={"payment": "pay_test"})


def test_get_gateway_builds_the_adapter_from_the_settings(stripe_settings, localstripe_url):
    gateway = get_gateway()  # PAYMENT_GATEWAY is still sandbox
    assert gateway.name == "sandbox"
    stripe_settings.PAYMENT_GATEWAY = "stripe"
    gateway = get_gateway()
    assert (gateway.name, gateway.api_base, gateway.api_key, gateway.timeout) == (
        "stripe", localstripe_url, SECRET_KEY, 10)


def test_a_charge_succeeds_and_carries_its_key(gateway, api, customer):
    result = charge(gateway, customer, saved_card(api, customer))

    assert result.outcome == "succeeded" and result.ref.startswith("pi_")
    intent = api.payment_intents.retrieve(result.ref).to_dict()
    assert (intent["amount"], intent["currency"], intent["customer"], intent["status"]) == (
        2500, "usd", customer, "succeeded")
    assert intent["metadata"] == {"payment": "pay_test", "portal_key": "charge-1"}
    assert gateway.charge_status(ref=result.ref, key="charge-1") == result


def test_a_declined_card(gateway, api, customer):
    """localstripe declines 4000000000000341 at the charge (4000000000000002 already when it is saved, below)."""
    result = charge(gateway, customer, saved_card(api, customer, "4000000000000341"))

    assert (result.outcome, result.failure_code, result.hard_decline) == ("failed", "card_declined", False)
    assert result.ref.startswith("pi_") and result.failure_message
    assert gateway.charge_status(ref=result.ref, key="charge-1") == result


def test_a_card_that_needs_authentication_is_a_hard_decline(gateway, api, customer):
    result = charge(gateway, customer, saved_card(api, customer, "4000002500003155"))
    assert (result.outcome, result.failure_code, result.hard_decline) == ("failed", "authentication_required", True)


def test_a_charge_stripe_refuses_to_start_charges_nothing(gateway, customer):
    result = charge(gateway, customer, "pm_never_made")
    assert (result.outcome, result.ref, result.hard_decline) == ("failed", "", True)
    assert "nothing was charged" in result.failure_message


def test_a_gateway_that_cannot_be_reached_charges_nothing(stripe_settings, api, customer):
    method = saved_card(api, customer)
    with socket_that_refuses() as url:
        stripe_settings.STRIPE_API_BASE = url
        result = charge(get_gateway("stripe"), customer, method)
    assert (result.outcome, result.failure_code, result.hard_decline) == ("failed", "gateway_timeout", False)


def test_a_ref_less_charge_without_search_is_left_unknown(gateway):
    """localstripe has no search: a charge whose ref was never recorded cannot be found by its key."""
    result = gateway.charge_status(ref="", key="charge-1")
    assert (result.outcome, result.failure_code) == ("unknown", "not_searchable")


def test_a_lost_confirm_answer_is_unknown_with_the_ref_and_reconciles(stripe_settings, api, customer, localstripe_url):
    method = saved_card(api, customer)
    stripe_settings.GATEWAY_TIMEOUT_SECONDS = 1
    with proxy_that_loses_answers(localstripe_url, path_ending="/confirm", delay=2.5) as url:
        stripe_settings.STRIPE_API_BASE = url
        result = charge(get_gateway("stripe"), customer, method)

    assert (result.outcome, result.failure_code) == ("unknown", "timeout")
    assert result.ref.startswith("pi_")
    stripe_settings.STRIPE_API_BASE = localstripe_url
    assert get_gateway("stripe").charge_status(ref=result.ref, key="charge-1").outcome == "succeeded"


@pytest.mark.parametrize("code, hard", [("insufficient_funds", False), ("lost_card", True), ("card_declined", False),
                                        ("authentication_required", True), ("something_new", False)])
def test_the_decline_table(code, hard):
    assert DECLINES.get(code, False) is hard


# ---- Refunds -----------------------------------------------------------------------------------------------------

def test_a_partial_refund_and_its_status_found_by_key(gateway, api, customer):
    charged = charge(gateway, customer, saved_card(api, customer), amount=1000)

    refund = gateway.refund(charge_ref=charged.ref, amount=300, currency="USD", key="refund-1",
                            metadata={"portal_refund": "re_portal1"})

    assert refund.outcome == "succeeded" and refund.ref.startswith("re_")
    made = api.refunds.retrieve(refund.ref).to_dict()
    assert (made["amount"], made["metadata"]) == (300, {"portal_refund": "re_portal1", "portal_key": "refund-1"})
    assert gateway.refund_status(ref=refund.ref, charge_ref=charged.ref, key="refund-1") == refund
    # The answer was lost: found again among the charge's refunds by the key it carries.
    gateway.refund(charge_ref=charged.ref, amount=200, currency="USD", key="refund-2", metadata={})
    assert gateway.refund_status(ref="", charge_ref=charged.ref, key="refund-1") == refund
    never = gateway.refund_status(ref="", charge_ref=charged.ref, key="refund-never-sent")
    assert (never.outcome, never.failure_code) == ("failed", "not_found")


def test_a_refund_of_a_failed_charge_is_refused(gateway, api, customer):
    declined = charge(gateway, customer, saved_card(api, customer, "4000000000000341"))
    result = gateway.refund(charge_ref=declined.ref, amount=100, currency="USD", key="refund-1", metadata={})
    assert result.outcome == "failed" and "nothing was refunded" in result.failure_message


def test_a_refund_whose_answer_is_lost_is_unknown(stripe_settings, gateway, api, customer, localstripe_url):
    charged = charge(gateway, customer, saved_card(api, customer), amount=1000)
    stripe_settings.GATEWAY_TIMEOUT_SECONDS = 1
    with proxy_that_loses_answers(localstripe_url, path_ending="/refunds", delay=2.5) as url:
        stripe_settings.STRIPE_API_BASE = url
        result = get_gateway("stripe").refund(charge_ref=charged.ref, amount=400, currency="USD", key="lost-refund",
                                              metadata={})
    assert (result.outcome, result.ref) == ("unknown", "")
    stripe_settings.STRIPE_API_BASE = localstripe_url
    found = get_gateway("stripe").refund_status(ref="", charge_ref=charged.ref, key="lost-refund")
    assert found.outcome == "succeeded" and found.ref.startswith("re_")


# ---- New cards ---------------------------------------------------------------------------------------------------

def confirm_on_the_page(api, session, number: str) -> None:
    """What the card page does with Stripe.js: a PaymentMethod from the card, then the SetupIntent confirmed."""
    api.setup_intents.confirm(session.ref, params={"payment_method": new_card(api, number),
                                                   "client_secret": session.client_secret})


def test_setup_creates_the_customer_and_saves_the_card_to_it(gateway, api, localstripe_url):
    session = gateway.setup_start(customer_ref="", key="link-1")

    assert session.ref.startswith("seti_") and session.customer_ref.startswith("cus_") and session.client_secret
    assert session.extra == {"publishable_key": "pk_test_portal", "js_url": f"{localstripe_url}/js.stripe.com/v3/"}
    confirm_on_the_page(api, session, "4242424242424242")

    result = gateway.setup_finish(session_ref=session.ref, customer_ref=session.customer_ref,
                                  submitted={"setup_intent": session.ref})

    assert result.outcome == "succeeded"
    method = result.method
    assert (method.customer_ref, method.brand, method.last4, method.exp_month, method.exp_year) == (
        session.customer_ref, "visa", "4242", 12, 2030)
    assert api.payment_methods.retrieve(method.ref).customer == session.customer_ref
    # The saved card pays.
    assert charge(gateway, session.customer_ref, method.ref).outcome == "succeeded"


def test_setup_for_a_customer_stripe_knows(gateway, customer):
    session = gateway.setup_start(customer_ref=customer, key="link-1")
    assert session.customer_ref == customer


def test_setup_finish_before_the_card_is_confirmed(gateway):
    session = gateway.setup_start(customer_ref="", key="link-1")
    result = gateway.setup_finish(session_ref=session.ref, customer_ref=session.customer_ref,
                                  submitted={"setup_intent": session.ref})
    assert (result.outcome, result.method) == ("failed", None) and result.failure_message


def test_setup_of_a_card_declined_on_the_page(gateway, api):
    session = gateway.setup_start(customer_ref="", key="link-1")
    with pytest.raises(stripe.CardError):
        confirm_on_the_page(api, session, "4000000000000002")
    result = gateway.setup_finish(session_ref=session.ref, customer_ref=session.customer_ref,
                                  submitted={"setup_intent": session.ref})
    assert (result.outcome, result.method) == ("failed", None)


def test_setup_finish_refuses_another_session(gateway):
    session = gateway.setup_start(customer_ref="", key="link-1")
    result = gateway.setup_finish(session_ref=session.ref, customer_ref=session.customer_ref,
                                  submitted={"setup_intent": "seti_someone_else"})
    assert (result.outcome, result.failure_code) == ("failed", "session_mismatch")


def test_setup_start_without_the_gateway_raises_unavailable(stripe_settings):
    from payments.gateways.base import GatewayUnavailable

    with socket_that_refuses() as url:
        stripe_settings.STRIPE_API_BASE = url
        with pytest.raises(GatewayUnavailable):
            get_gateway("stripe").setup_start(customer_ref="", key="link-1")


def test_stripe_js_comes_from_stripe_unless_the_api_is_elsewhere():
    assert stripe_js_url("") == "https://js.stripe.com/v3/"
    assert stripe_js_url("http://127.0.0.1:8420/") == "http://127.0.0.1:8420/js.stripe.com/v3/"


# ---- A network that misbehaves -----------------------------------------------------------------------------------

@contextmanager
def socket_that_refuses():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextmanager
def proxy_that_loses_answers(target: str, *, path_ending: str, delay: float):
    """A proxy to `target` that carries out every request, but holds back the answers to paths ending with
    `path_ending` for `delay` seconds: longer than the client waits."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name: value for name, value in self.headers.items() if name.lower() not in ("host",)}
            request = urllib.request.Request(target + self.path, data=body or None, method=self.command,
                                             headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    status, content = answer.status, answer.read()
            except urllib.error.HTTPError as error:
                status, content = error.code, error.read()
            if self.path.split("?")[0].endswith(path_ending):
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_DELETE = _forward

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
