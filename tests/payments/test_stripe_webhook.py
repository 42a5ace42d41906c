"""POST /webhooks/stripe/: signed events change payments, refunds and disputes once; anything unsigned, altered or
stale changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import stripe
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments.gateways import get_gateway
from payments.models import GatewayEvent, Payment, Refund
from portal.models import AuditEvent
from tests.factories import PaymentFactory
from tests.payments.conftest import SECRET_KEY, WEBHOOK_SECRET

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]

URL = "/webhooks/stripe/"


@pytest.fixture
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


def event(type_: str, obj: dict, *, event_id: str = "evt_1") -> dict:
    return {"id": event_id, "object": "event", "type": type_, "created": int(time.time()), "api_version": "2025-01-01",
            "data": {"object": obj}}


def signature(body: bytes, *, timestamp: int | None = None, secret: str = WEBHOOK_SECRET) -> str:
    """The Stripe-Signature header, computed the way Stripe (and localstripe) does."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post(client, payload: dict | bytes, *, header: str | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(URL, data=body, content_type="application/json",
                       headers={"Stripe-Signature": signature(body) if header is None else header})


def intent(status: str, *, ref: str = "pi_1", error: dict | None = None) -> dict:
    return {"id": ref, "object": "payment_intent", "status": status, "amount": 1500, "currency": "usd",
            "last_payment_error": error}


@pytest.fixture
def payment():
    return PaymentFactory(gateway="stripe", gateway_ref="pi_1", status=Payment.Status.UNKNOWN, gateway_key="key-1")


def outcome_audits():
    return AuditEvent.objects.filter(action__startswith="payments.").count()


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)  # Stripe holds no CSRF token


def test_the_route_is_named():
    assert reverse("webhooks:stripe") == URL


def test_a_succeeded_payment_intent_applies_once(client, payment):
    body = event("payment_intent.succeeded", intent("succeeded"))

    response = post(client, body)

    assert response.status_code == 200 and response.json() == {"received": True}
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    recorded = GatewayEvent.objects.get()
    assert (recorded.gateway, recorded.event_id, recorded.type, recorded.object_ref) == (
        "stripe", "evt_1", "payment_intent.succeeded", "pi_1")
    assert outcome_audits() == 1
    # Stripe delivers it again: nothing more happens.
    again = post(client, body)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert GatewayEvent.objects.count() == 1 and outcome_audits() == 1


@pytest.mark.parametrize("error, code, decline_type", [
    ({"code": "card_declined", "decline_code": "insufficient_funds", "message": "Insufficient funds."},
     "insufficient_funds", "soft"),
    ({"code": "card_declined", "decline_code": "stolen_card", "message": "Declined."}, "stolen_card", "hard"),
    ({"code": "card_declined", "message": "Your card was declined."}, "card_declined", "soft"),
])
def test_a_failed_payment_intent(client, payment, error, code, decline_type):
    post(client, event("payment_intent.payment_failed", intent("requires_payment_method", error=error)))
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code, payment.decline_type) == ("failed", code, decline_type)


def test_a_processing_payment_intent_is_pending(client, payment):
    post(client, event("payment_intent.processing", intent("processing")))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING


def test_an_event_for_a_payment_the_portal_does_not_hold_changes_nothing(client, payment):
    response = post(client, event("payment_intent.succeeded", intent("succeeded", ref="pi_other")))
    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.UNKNOWN and GatewayEvent.objects.count() == 1


def test_an_event_of_another_type_is_recorded_and_ignored(client, payment):
    response = post(client, event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert response.status_code == 200
    assert GatewayEvent.objects.get().type == "customer.created" and outcome_audits() == 0


def _refund(payment, **fields) -> Refund:
    fields = {"amount": 500, "currency": "USD", "status": Refund.Status.UNKNOWN, "gateway_ref": "re_1",
              "created_at": timezone.now(), **fields}
    Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.SUCCEEDED,
                                                 amount_refund_pending=fields["amount"])
    return Refund.objects.create(payment=payment, **fields)


@pytest.mark.parametrize("type_", ["refund.updated", "refund.created", "charge.refund.updated"])
def test_a_refund_event_settles_the_refund(client, payment, type_):
    refund = _refund(payment)
    post(client, event(type_, {"id": "re_1", "object": "refund", "status": "succeeded", "amount": 500,
                               "payment_intent": "pi_1"}))
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == "succeeded"
    assert (payment.status, payment.amount_refunded, payment.amount_refund_pending) == ("partially_refunded", 500, 0)


def test_charge_refunded_settles_each_refund_it_lists(client, payment):
    first, second = _refund(payment, gateway_ref="re_1"), _refund(payment, gateway_ref="re_2", amount=1000)
    Payment.objects.filter(pk=payment.pk).update(amount_refund_pending=1500)
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "refunds": {"object": "list", "data": [
        {"id": "re_1", "object": "refund", "status": "succeeded", "amount": 500},
        {"id": "re_2", "object": "refund", "status": "failed", "amount": 1000, "failure_reason": "lost_or_stolen_card"},
    ]}}
    post(client, event("charge.refunded", charge))
    first.refresh_from_db()
    second.refresh_from_db()
    payment.refresh_from_db()
    assert (first.status, second.status) == ("succeeded", "failed")
    assert (payment.amount_refunded, payment.amount_refund_pending) == (500, 0)


@pytest.mark.parametrize("closed_as, disputed_after", [("won", False), ("lost", True)])
def test_disputes_open_and_close(client, payment, closed_as, disputed_after):
    dispute = {"id": "dp_1", "object": "dispute", "charge": "ch_1", "payment_intent": "pi_1",
               "status": "needs_response"}
    post(client, event("charge.dispute.created", dispute))
    payment.refresh_from_db()
    assert payment.disputed is True
    post(client, event("charge.dispute.closed", {**dispute, "status": closed_as}, event_id="evt_2"))
    payment.refresh_from_db()
    assert payment.disputed is disputed_after


# ---- Refused deliveries ------------------------------------------------------------------------------------------

def _valid_body() -> bytes:
    return json.dumps(event("payment_intent.succeeded", intent("succeeded"))).encode()


def _tampered():
    body = _valid_body()
    return body.replace(b'"succeeded"', b'"processing"', 1), signature(body)


REFUSED = {
    "wrong-secret": lambda: (_valid_body(), signature(_valid_body(), secret="whsec_someone_else")),
    "changed-body": _tampered,
    "301-seconds-old": lambda: (_valid_body(), signature(_valid_body(), timestamp=int(time.time()) - 301)),
    "no-header": lambda: (_valid_body(), ""),
    "garbled-header": lambda: (_valid_body(), "t=yesterday,v1=zz"),
    "no-v1": lambda: (_valid_body(), signature(_valid_body()).replace("v1=", "v0=")),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_delivery_that_is_not_stripe_s_changes_nothing(client, payment, case):
    body, header = REFUSED[case]()
    response = client.post(URL, data=body, content_type="application/json", headers={"Stripe-Signature": header})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature" and response.json()["error"]["message"]
    assert not GatewayEvent.objects.exists()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.UNKNOWN and outcome_audits() == 0


def test_a_fresh_delivery_inside_the_tolerance_is_taken(client, payment):
    body = _valid_body()
    response = client.post(URL, data=body, content_type="application/json",
                           headers={"Stripe-Signature": signature(body, timestamp=int(time.time()) - 290)})
    assert response.status_code == 200


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b'{"id": 5, "type": "x"}', b"\xff\xfe", b"{}",
                                  json.dumps({"id": "e" * 101, "type": "x"}).encode()])
def test_a_signed_body_that_is_not_an_event_is_refused(client, body):
    response = client.post(URL, data=body, content_type="application/json",
                           headers={"Stripe-Signature": signature(body)})
    assert response.status_code == 400 and response.json()["error"]["code"] in ("bad_payload", "bad_signature")
    assert not GatewayEvent.objects.exists()


def test_without_a_webhook_secret_every_delivery_is_refused(client, payment, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = post(client, event("payment_intent.succeeded", intent("succeeded")))
    assert response.status_code == 400 and response.json()["error"]["code"] == "not_configured"
    assert not GatewayEvent.objects.exists()


def test_get_is_refused(client):
    assert client.get(URL).status_code == 405


# ---- Over the network ----------------------------------------------------------------------------------------------

def _http_post(url: str, body: bytes, header: str) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Stripe-Signature": header})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_five_times_at_once_applies_once(live_server, payment):
    body = _valid_body()
    header = signature(body)
    barrier = threading.Barrier(5)
    statuses = []

    def deliver():
        try:
            barrier.wait()
            statuses.append(_http_post(live_server.url + URL, body, header))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 5
    assert GatewayEvent.objects.count() == 1 and outcome_audits() == 1
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_localstripe_delivers_a_signed_payment_intent_succeeded(live_server, stripe_settings, localstripe_url):
    """localstripe signs its events like Stripe and posts them about a second after they happen."""
    api = stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe_url}).v1
    customer = api.customers.create(params={}).id
    method = api.payment_methods.create(params={"type": "card", "card": {
        "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}).id
    api.payment_methods.attach(method, params={"customer": customer})
    hook = f"{localstripe_url}/_config/webhooks/portal-test"
    endpoint = f"http://127.0.0.1:{live_server.url.rsplit(':', 1)[1]}{URL}"

    def configure(events: list[str]):
        data = urllib.parse.urlencode([("url", endpoint), ("secret", WEBHOOK_SECRET),
                                       *(("events[]", name) for name in events)]).encode()
        urllib.request.urlopen(urllib.request.Request(hook, data=data, method="POST"), timeout=5).close()

    configure(["payment_intent.succeeded"])
    try:
        result = get_gateway("stripe").charge(amount=1500, currency="USD", customer_ref=customer, method_ref=method,
                                              key="key-live", metadata={})
        # The portal lost the answer: the payment is unknown, with the PaymentIntent's id.
        payment = PaymentFactory(gateway="stripe", gateway_ref=result.ref, status=Payment.Status.UNKNOWN)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not GatewayEvent.objects.filter(object_ref=result.ref).exists():
            time.sleep(0.2)
    finally:
        configure(["portal.test.finished"])  # later events of this localstripe go nowhere

    recorded = GatewayEvent.objects.get(object_ref=result.ref)
    assert recorded.type == "payment_intent.succeeded" and recorded.event_id.startswith("evt_")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
