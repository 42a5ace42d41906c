"""Card-update links: an agent emails a signed, single-use, expiring link; the customer adds a card on the page it
opens (no sign-in); the card becomes the default, the outstanding invoice is charged once; every refused use is
logged and answered with a page, never an error."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.models import ActivityEvent
from payments import card_link_views, card_links
from payments.card_links import CardLinkRefused, card_link_complete, card_link_send, card_link_token
from payments.gateways.sandbox import SandboxGateway
from payments.gateways.base import SetupSession
from payments.models import Invoice, Payment, PaymentMethod, PaymentMethodLink
from portal.errors import DomainError
from portal.models import AuditEvent
from support.models import EmailMessage
from tests.factories import (
    CustomerFactory, InvoiceFactory, PaymentFactory, PaymentMethodFactory, StorefrontFactory, SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

GOOD = {"card_number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"}


@pytest.fixture
def customer():
    customer = CustomerFactory(first_name="Ada", last_name="Byron", email="ada.byron@example.com")
    old = PaymentMethodFactory(customer=customer, last4="1111", gateway_customer_ref="cus_sbx_ada")
    SubscriptionFactory(customer=customer, payment_method=old)
    return customer


def _outstanding(customer, amount=1200):
    """An open invoice whose renewal charge failed."""
    invoice = InvoiceFactory(customer=customer, status=Invoice.Status.OPEN, subtotal=amount)
    PaymentFactory(customer=customer, invoice=invoice, amount=amount, status=Payment.Status.FAILED,
                   failure_code="card_declined", failure_message="Card declined")
    return invoice


def _send(customer, agent, **kwargs) -> PaymentMethodLink:
    return card_link_send(customer=customer, actor=agent, **kwargs)


def _page_url(link) -> str:
    return reverse("card_links:page", kwargs={"token": card_link_token(link)})


def _refusals(why=None):
    events = AuditEvent.objects.filter(action="payments.card_link.refused")
    return list(events.filter(data__why=why) if why else events)


# ---- Sending ---------------------------------------------------------------------------------------------------

def test_it_emails_the_link_and_logs_only_its_id(customer, agent, django_capture_on_commit_callbacks):
    _outstanding(customer)
    with django_capture_on_commit_callbacks(execute=True):
        link = _send(customer, agent)
    assert link.public_id.startswith("pml_") and link.created_by == agent and link.used_at is None
    hours = (link.expires_at - link.created_at) / timedelta(hours=1)
    assert hours == 72
    message = EmailMessage.objects.get()
    assert link.email == message and message.template.code == "card_update" and message.status == "sent"
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["ada.byron@example.com"] and sent.subject == "Update your card, Ada"
    assert "Hi Ada," in sent.body and "$12.00 due" in sent.body
    url = re.search(r"http://127\.0\.0\.1:8000/pay/card/([^/\s]+)/", sent.body)
    assert url and card_links.card_link_from_token(url.group(1)) == link
    assert link.expires_at.strftime("%-d %B %Y") in sent.body

    event = AuditEvent.objects.get(action="payments.card_link.sent")
    assert event.data["link"] == link.public_id and event.data["email"] == message.public_id
    timeline = ActivityEvent.objects.get(action="card_link.sent")
    assert timeline.summary.startswith("Card-update link emailed (expires ") and timeline.kind == "payment"
    token = url.group(1)
    for row in AuditEvent.objects.all():
        assert token not in json.dumps(row.data) and "/pay/card/" not in json.dumps(row.data)
    assert all("/pay/card/" not in e.summary and token not in json.dumps(e.payload)
               for e in ActivityEvent.objects.all())


def test_without_anything_due_the_email_does_not_mention_an_amount(customer, agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _send(customer, agent)
    assert "due" not in mail.outbox[0].body.split("\n\n")[1]


def test_the_expiry_comes_from_the_settings(customer, agent, settings):
    settings.CARD_LINK_EXPIRY_HOURS = 5
    link = _send(customer, agent)
    assert link.expires_at - link.created_at == timedelta(hours=5)


@pytest.mark.parametrize("kind, sentence", [
    ("app_store", "Their card is managed by the App Store; ask them to update it in their Apple ID settings."),
    ("google_play", "Their card is managed by Google Play"),
])
def test_app_store_customers_are_refused_with_the_reason(kind, sentence, agent):
    customer = CustomerFactory(storefront=StorefrontFactory(code=kind, name=kind, kind=kind))
    with pytest.raises(DomainError) as refused:
        _send(customer, agent)
    assert refused.value.message.startswith(sentence)
    assert not PaymentMethodLink.objects.exists() and not EmailMessage.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="payments").exists()


@pytest.mark.parametrize("changes, words", [({"status": "erased"}, "erased"), ({"email": ""}, "no email address")])
def test_erased_customers_and_those_without_an_address_are_refused(changes, words, agent):
    with pytest.raises(DomainError, match=words):
        _send(CustomerFactory(**changes), agent)
    assert not PaymentMethodLink.objects.exists() and not EmailMessage.objects.exists()


def test_a_repeated_request_sends_one_link(customer, agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = _send(customer, agent, request_key="form:1:abc")
        second = _send(customer, agent, request_key="form:1:abc")
    assert first == second and PaymentMethodLink.objects.count() == 1 and len(mail.outbox) == 1
    with pytest.raises(DomainError):
        _send(CustomerFactory(), agent, request_key="form:1:abc")


# ---- The customer's page ---------------------------------------------------------------------------------------

def test_the_page_shows_the_form_and_only_the_first_name_and_amount_due(customer, agent, client):
    _outstanding(customer, 1234)
    link = _send(customer, agent)
    response = client.get(_page_url(link))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Hi Ada," in body and "$12.34" in body and 'name="card_number"' in body and "4242 4242 4242 4242" in body
    assert "Byron" not in body and "ada.byron" not in body and customer.public_id not in body
    assert "sidebar" not in body and "/customers/" not in body  # not the portal's layout
    assert response["Cache-Control"] == "no-store" and response["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response["X-Robots-Tag"]
    csp = response["Content-Security-Policy"]
    assert "stripe" not in csp and "script-src 'self'" in csp
    opened = AuditEvent.objects.get(action="payments.card_link.opened")
    assert opened.customer_id == customer.pk and opened.data == {"link": link.public_id} and opened.actor is None
    assert not ActivityEvent.objects.filter(action="card_link.opened").exists()
    link.refresh_from_db()
    assert link.gateway_setup_ref and link.gateway_customer_ref == "cus_sbx_ada"


def test_4242_becomes_the_default_card_and_uses_the_link(customer, agent, client):
    link = _send(customer, agent)
    old = PaymentMethod.objects.get(customer=customer)
    response = client.post(_page_url(link), GOOD)
    assert response.status_code == 200
    assert "Thanks, your card ending 4242 is saved." in response.content.decode()
    new = PaymentMethod.objects.get(customer=customer, is_default=True)
    assert (new.last4, new.brand, new.exp_month, new.exp_year, new.kind, new.gateway) == (
        "4242", "visa", 12, 2034, "card", "sandbox")
    assert new.gateway_ref and new.gateway_customer_ref == "cus_sbx_ada"
    old.refresh_from_db()
    assert not old.is_default
    assert customer.subscriptions.get().payment_method == new
    link.refresh_from_db()
    assert link.used_at is not None and link.payment_method == new
    used = AuditEvent.objects.get(action="payments.card_link.used")
    assert used.data["link"] == link.public_id and used.actor is None and used.source == "system"
    assert "4242" not in json.dumps(used.data)
    timeline = ActivityEvent.objects.get(action="card_link.used")
    assert timeline.summary == "Added a new card •••• 4242 through the emailed link"


def test_a_second_use_gets_410_and_is_logged(customer, agent, client):
    link = _send(customer, agent)
    assert client.post(_page_url(link), GOOD).status_code == 200
    for method in ("get", "post"):
        response = getattr(client, method)(_page_url(link), GOOD if method == "post" else None)
        assert response.status_code == 410
        assert "already been used" in response.content.decode()
    assert len(_refusals("used")) == 2
    assert {row.customer_id for row in _refusals()} == {customer.pk}
    assert PaymentMethod.objects.filter(customer=customer).count() == 2


def test_an_expired_link_gets_410_and_is_logged(customer, agent, client):
    link = _send(customer, agent)
    PaymentMethodLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(_page_url(link))
    assert response.status_code == 410 and "This link has expired. Ask us for a new one." in response.content.decode()
    assert client.post(_page_url(link), GOOD).status_code == 410
    refused = _refusals("expired")
    assert len(refused) == 2 and refused[0].data == {"link": link.public_id, "why": "expired"}
    assert refused[0].customer_id == customer.pk
    assert PaymentMethod.objects.filter(customer=customer).count() == 1


def test_a_tampered_token_gets_404_and_is_logged_without_a_customer(customer, agent, client):
    link = _send(customer, agent)
    token = card_link_token(link)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    response = client.get(reverse("card_links:page", kwargs={"token": flipped}))
    assert response.status_code == 404 and "not valid" in response.content.decode()
    assert client.post(reverse("card_links:page", kwargs={"token": flipped}), GOOD).status_code == 404
    refused = _refusals("tampered")
    assert len(refused) == 2 and refused[0].customer_id is None and refused[0].data == {"link": "", "why": "tampered"}
    assert all(flipped not in json.dumps(row.data) for row in AuditEvent.objects.all())
    assert PaymentMethod.objects.filter(customer=customer).count() == 1


def test_a_signed_id_of_no_link_is_unknown(client):
    from django.core import signing

    token = signing.dumps("pml_0000000000000000", salt=card_links.SALT)
    assert client.get(reverse("card_links:page", kwargs={"token": token})).status_code == 404
    assert _refusals("unknown")[0].data == {"link": "pml_0000000000000000", "why": "unknown"}


@pytest.mark.parametrize("token", ["x", "a:b:c", "pml_0000000000000000", ".eJw:abc:def", "%00", "é" * 300,
                                   "WyJwbWxfIl0:1t:" + "A" * 43, "..", "null"])
def test_garbage_tokens_get_404(token, client):
    response = client.get(f"/pay/card/{token}/")
    assert response.status_code in (400, 404)


def test_a_declined_card_shows_the_gateways_sentence_and_keeps_the_link_usable(customer, agent, client):
    link = _send(customer, agent)
    response = client.post(_page_url(link), {**GOOD, "card_number": "4242 4242 4242 4241"})
    assert response.status_code == 422
    assert "The card number is not valid." in response.content.decode()
    assert 'value="4242 4242 4242 4241"' in response.content.decode() or "4241" in response.content.decode()
    link.refresh_from_db()
    assert link.used_at is None and link.failed_attempts == 1
    assert AuditEvent.objects.get(action="payments.card_link.declined").data["code"] == "invalid_number"
    response = client.post(_page_url(link), {**GOOD, "expiry": "01/20"})
    assert response.status_code == 422 and "The card has expired." in response.content.decode()
    assert client.post(_page_url(link), GOOD).status_code == 200
    assert PaymentMethod.objects.get(customer=customer, is_default=True).last4 == "4242"


def test_input_of_the_wrong_shape_is_a_form_error_and_not_an_attempt(customer, agent, client):
    link = _send(customer, agent)
    response = client.post(_page_url(link), {"card_number": "abcd", "expiry": "13/99", "cvc": "1"})
    assert response.status_code == 422
    body = response.content.decode()
    assert "Enter the 12 to 19 digits" in body and "MM/YY" in body and "3 or 4 digits" in body
    link.refresh_from_db()
    assert link.failed_attempts == 0 and link.used_at is None


def test_too_many_declined_cards_lock_the_link(customer, agent, client, settings):
    settings.CARD_LINK_MAX_ATTEMPTS = 2
    link = _send(customer, agent)
    bad = {**GOOD, "card_number": "4242424242424241"}
    assert client.post(_page_url(link), bad).status_code == 422
    assert client.post(_page_url(link), bad).status_code == 410
    assert client.post(_page_url(link), GOOD).status_code == 410
    assert _refusals("locked") and PaymentMethod.objects.filter(customer=customer).count() == 1


# ---- Charging what is outstanding ------------------------------------------------------------------------------
#
# The charge is made when its transaction commits, so these run on committed data (money_db: transactional).

@pytest.fixture
def committed(money_db):
    """The card_update template again: the flush after an earlier transactional test removed it."""
    import importlib

    from django.apps import apps

    importlib.import_module("support.migrations.0006_card_update_template").add_template(apps, None)


def test_the_failed_invoice_is_charged_once_to_the_new_card(committed, customer, agent, client):
    invoice = _outstanding(customer, 1200)
    link = _send(customer, agent)
    response = client.post(_page_url(link), GOOD)
    assert "Thanks, your card ending 4242 is saved. We charged $12.00 for your outstanding invoice." in (
        response.content.decode())
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    paid = Payment.objects.get(invoice=invoice, status=Payment.Status.SUCCEEDED)
    assert paid.amount == 1200 and paid.payment_method.last4 == "4242"
    client.post(_page_url(link), GOOD)  # a resubmit is refused: nothing is charged twice
    assert Payment.objects.filter(invoice=invoice, status=Payment.Status.SUCCEEDED).count() == 1


def test_a_declined_charge_is_said_on_the_page(committed, customer, agent, client):
    invoice = _outstanding(customer, 1200)
    link = _send(customer, agent)
    response = client.post(_page_url(link), {**GOOD, "card_number": "4000 0000 0000 0002"})
    body = response.content.decode()
    assert response.status_code == 200 and "your card ending 0002 is saved" in body
    assert "but the charge was declined: The card was declined" in body
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN
    assert PaymentMethod.objects.get(customer=customer, is_default=True).last4 == "0002"


# ---- Two submits at once ---------------------------------------------------------------------------------------

class _SlowSandbox(SandboxGateway):
    """Both submits reach the gateway before either records its card: the race the second transaction settles."""

    def __init__(self, barrier):
        self.barrier = barrier

    def setup_finish(self, **kwargs):
        self.barrier.wait(timeout=10)
        return super().setup_finish(**kwargs)


def test_two_submits_at_once_add_one_card(transactional_db, monkeypatch):
    from portal.roles import sync_roles
    from tests.factories import UserFactory

    sync_roles()
    customer = CustomerFactory(first_name="Ada")
    PaymentMethodFactory(customer=customer, last4="1111")
    link = PaymentMethodLink.objects.create(customer=customer, created_at=timezone.now(),
                                            expires_at=timezone.now() + timedelta(hours=1))
    UserFactory(username="unused", role="Agent")
    gateway = _SlowSandbox(threading.Barrier(2))
    monkeypatch.setattr(card_links, "get_gateway", lambda name=None: gateway)
    submitted = {"card_number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}

    def submit():
        try:
            return card_link_complete(link=PaymentMethodLink.objects.get(pk=link.pk), submitted=submitted)
        except CardLinkRefused as refused:
            return refused
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: submit(), range(2)))
    added = [r for r in results if isinstance(r, PaymentMethod)]
    refused = [r for r in results if isinstance(r, CardLinkRefused)]
    assert len(added) == 1 and len(refused) == 1 and refused[0].why == "used"
    assert "This link has already been used" in refused[0].message
    assert PaymentMethod.objects.filter(customer=customer).count() == 2
    assert PaymentMethod.objects.filter(customer=customer, is_default=True).get().pk == added[0].pk
    assert AuditEvent.objects.filter(action="payments.card_link.used").count() == 1
    assert AuditEvent.objects.filter(action="payments.card_link.refused", data__why="used").count() == 1


# ---- Stripe: the page loads Stripe.js, and the policy allows it only then -------------------------------------

class _FakeStripe:
    name = "stripe"

    def setup_start(self, *, customer_ref, key):
        return SetupSession(ref="seti_123", customer_ref=customer_ref or "cus_stripe", client_secret="seti_123_secret_x",
                            extra={"publishable_key": "pk_test_abc", "js_url": "https://js.stripe.com/v3/"})

    def setup_finish(self, *, session_ref, customer_ref, submitted):
        from payments.gateways.base import SavedMethod, SetupResult

        assert submitted == {"setup_intent": "seti_123"} and session_ref == "seti_123"
        return SetupResult("succeeded", SavedMethod(ref="pm_stripe_1", customer_ref=customer_ref, brand="visa",
                                                    last4="4242", exp_month=4, exp_year=2031))


def test_with_stripe_the_page_mounts_elements_and_allows_only_stripes_origins(customer, agent, client, monkeypatch):
    monkeypatch.setattr(card_links, "get_gateway", lambda name=None: _FakeStripe())
    monkeypatch.setattr(card_link_views, "get_gateway", lambda name=None: _FakeStripe())
    link = _send(customer, agent)
    response = client.get(_page_url(link))
    body = response.content.decode()
    assert response.status_code == 200
    assert '<script src="https://js.stripe.com/v3/"></script>' in body and 'data-publishable-key="pk_test_abc"' in body
    assert 'name="card_number"' not in body and "4242 4242" not in body
    csp = response["Content-Security-Policy"]
    assert re.search(r"script-src 'self' https://js\.stripe\.com", csp)
    assert "frame-src https://hooks.stripe.com https://js.stripe.com" in csp
    assert "connect-src 'self' https://api.stripe.com https://js.stripe.com" in csp
    response = client.post(_page_url(link), {"setup_intent": "seti_123"})
    assert response.status_code == 200 and "card ending 4242 is saved" in response.content.decode()
    assert PaymentMethod.objects.get(customer=customer, is_default=True).gateway == "stripe"


# ---- The agent's side: dialog, send, API, roles ----------------------------------------------------------------

def test_the_dialog_says_where_the_link_goes(customer, agent_client):
    response = agent_client.get(reverse("card_links:new", kwargs={"public_id": customer.public_id}),
                                headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and "ada.byron@example.com" in body and "Send link" in body
    assert "<html" not in body


def test_sending_from_the_profile(customer, agent_client, django_capture_on_commit_callbacks):
    url = reverse("card_links:send", kwargs={"public_id": customer.public_id})
    data = {"form_token": "a" * 32}
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(url, data, headers={"HX-Request": "true", "HX-Target": "card-link-form"})
        again = agent_client.post(url, data, headers={"HX-Request": "true", "HX-Target": "card-link-form"})
    assert response.status_code == 200 and again.status_code == 200
    assert "Card-update link emailed to ada.byron@example.com" in response["HX-Trigger"]
    assert response["HX-Retarget"] == "#profile-header"
    assert PaymentMethodLink.objects.count() == 1 and len(mail.outbox) == 1
    response = agent_client.post(url, {"form_token": "b" * 32})
    assert response.status_code == 302 and PaymentMethodLink.objects.count() == 2


def test_a_bad_form_token_changes_nothing(customer, agent_client):
    response = agent_client.post(reverse("card_links:send", kwargs={"public_id": customer.public_id}),
                                 {"form_token": "nope"}, headers={"HX-Request": "true"})
    assert response.status_code == 422 and not PaymentMethodLink.objects.exists()


def test_the_profile_offers_the_action_or_says_why_not(customer, agent_client):
    response = agent_client.get(reverse("customers:profile", kwargs={"public_id": customer.public_id}))
    assert reverse("card_links:new", kwargs={"public_id": customer.public_id}) in response.content.decode()
    apple = CustomerFactory(storefront=StorefrontFactory(code="app-store", name="App Store", kind="app_store"))
    body = agent_client.get(reverse("customers:profile", kwargs={"public_id": apple.public_id})).content.decode()
    assert "Send card-update link</button>" in body and "Apple ID settings" in body
    assert reverse("card_links:new", kwargs={"public_id": apple.public_id}) not in body


def test_roles_without_contact_customers_get_403(customer, viewer, client_for, api_client_for):
    client = client_for(viewer)
    assert client.get(reverse("card_links:new", kwargs={"public_id": customer.public_id})).status_code == 403
    assert client.post(reverse("card_links:send", kwargs={"public_id": customer.public_id}),
                       {"form_token": "a" * 32}).status_code == 403
    api = api_client_for(viewer)
    assert api.post(f"/api/v1/customers/{customer.public_id}/payment-method-link").status_code == 403
    assert "Send card-update link" not in client.get(
        reverse("customers:profile", kwargs={"public_id": customer.public_id})).content.decode()
    assert not PaymentMethodLink.objects.exists()


def test_send_needs_post(customer, agent_client, agent, api_client_for):
    assert agent_client.get(reverse("card_links:send", kwargs={"public_id": customer.public_id})).status_code == 405
    assert api_client_for(agent).get(
        f"/api/v1/customers/{customer.public_id}/payment-method-link").status_code == 405


def test_the_api_answers_201_and_replays_an_idempotency_key(customer, agent, api_client_for,
                                                            django_capture_on_commit_callbacks):
    api = api_client_for(agent)
    url = f"/api/v1/customers/{customer.public_id}/payment-method-link"
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(url, "{}", content_type="application/json", headers={"Idempotency-Key": "k-1"})
        second = api.post(url, "{}", content_type="application/json", headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and second.status_code == 201
    body = first.json()
    link = PaymentMethodLink.objects.get()
    assert body["id"] == link.public_id and body["email"] == {"id": link.email.public_id}
    assert body["expires_at"] == link.expires_at.isoformat()
    assert second.json() == body and second["Idempotent-Replayed"] == "true"
    assert len(mail.outbox) == 1 and "ada.byron" not in first.content.decode()
    conflict = api.post(url, '{"x": 1}', content_type="application/json", headers={"Idempotency-Key": "k-1"})
    assert conflict.status_code == 409


def test_the_api_refuses_with_the_reason(agent, api_client_for):
    apple = CustomerFactory(storefront=StorefrontFactory(code="app-store", name="App Store", kind="app_store"))
    response = api_client_for(agent).post(f"/api/v1/customers/{apple.public_id}/payment-method-link",
                                          content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "card_link_refused", "message": card_links.card_link_refusal(apple)}
    response = api_client_for(agent).post(f"/api/v1/customers/{apple.public_id}/payment-method-link",
                                          '{"to": "someone@else"}', content_type="application/json")
    assert response.status_code == 400
    assert api_client_for(agent).post("/api/v1/customers/cus_nobody/payment-method-link",
                                      content_type="application/json").status_code == 404


def test_the_template_is_not_offered_in_the_send_email_dialog(customer):
    from support.selectors import email_template_choices

    choice = next(c for c in email_template_choices(customer) if c.code == "card_update")
    assert "card-update link" in choice.refusal


def test_pages_without_a_token_value_still_never_500(client):
    assert Client().get("/pay/card/%20/").status_code in (400, 404)


def test_the_page_needs_no_csrf_token(customer, agent):
    """The URL's token authorises the POST; with no-referrer, browsers send Origin: null, which a CSRF check
    would refuse."""
    link = _send(customer, agent)
    response = Client(enforce_csrf_checks=True).post(_page_url(link), GOOD, headers={"Origin": "null"})
    assert response.status_code == 200 and "csrftoken" not in response.cookies
