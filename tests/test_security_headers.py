"""Responses that can carry personal data are never stored by a browser or a proxy (Cache-Control: no-store).

The walk covers every route in portal.urls, present and future: a new route with a URL parameter this file has
no sample for fails the walk until one is added here.
"""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.utils import timezone
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from payments.card_links import card_link_send, card_link_token
from portal.models import Approval
from portal.services import api_token_create
from tests.support.factories import TicketFactory
from support.escalations import escalation_raise
from tests.factories import CustomerFactory, PaymentFactory, SubscriptionFactory, TagFactory, UserFactory


def walk_routes(resolver=None, namespace="", params=()):
    """(name, URL parameter names) for every named route below `resolver`, Django's admin left out."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        names = (*params, *entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue  # Django's own URLs; the admin is checked on its own below
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk_routes(entry, ns, names)
        elif isinstance(entry, URLPattern):
            assert entry.name, f"name the route {entry.pattern}, so it can be walked"
            yield f"{namespace}{entry.name}", names


@pytest.fixture
def samples(agent):
    """A value for each URL parameter the routes take, by namespace where the same name means different things."""
    payment = PaymentFactory()
    customer = payment.customer
    tag = TagFactory()
    token, _ = api_token_create(user=agent, name="walk", actor=agent)
    ticket = TicketFactory(customer=customer)
    escalation = escalation_raise(customer=customer, reason="complaint", actor=agent)
    card_token = card_link_token(card_link_send(customer=customer, actor=agent))
    approval = Approval.objects.create(kind="tests.tag", customer=customer, payload={"customer": customer.public_id},
                                       verdict="Needs a manager.", requested_by=agent,
                                       expires_at=timezone.now() + timedelta(hours=1))
    common = {"public_id": customer.public_id, "tab": "payments", "name": tag.name, "token_id": token.pk,
              "ticket_id": ticket.public_id, "escalation_id": escalation.public_id,
              "token": card_token, "approval_id": approval.public_id}
    on_payment = {**common, "public_id": payment.public_id}
    on_subscription = {**common, "public_id": SubscriptionFactory(customer=customer).public_id}
    return {"": common, "payments": {**common, "public_id": payment.invoice.public_id},
            **{name: on_subscription for name, _ in walk_routes() if name.startswith("api_subscription")},
            **{f"payments:{name}": on_payment for name in ("refund_new", "refund_preview", "refund_create", "retry")},
            "payments:credit_new": common, "payments:credit_create": common}


def _path(name: str, params: tuple[str, ...], samples: dict) -> str:
    namespace = name.split(":")[0] if ":" in name else ""
    values = samples.get(name) or samples.get(namespace, samples[""])
    missing = [p for p in params if p not in values]
    assert not missing, f"{name}: add a sample value for {missing} to tests/test_security_headers.py"
    return reverse(name, kwargs={p: values[p] for p in params})


def test_the_walk_finds_the_routes():
    names = {name for name, _ in walk_routes()}
    assert {"portal:settings", "customers:profile", "payments:invoice", "api_customer_detail"} <= names


@pytest.mark.django_db
def test_every_route_answers_a_signed_in_agent_with_no_store(agent, client_for, samples):
    client = client_for(agent)
    seen = []
    for name, params in walk_routes():
        if name == "logout":
            continue  # GET is refused (405) like any POST-only view, but keep the session for the rest of the walk
        path = _path(name, params, samples)
        response = client.get(path)
        assert "no-store" in response.get("Cache-Control", ""), f"{name} ({path}) answered {response.status_code}"
        seen.append(response.status_code)
    assert 200 in seen and len(seen) > 10


@pytest.mark.django_db
def test_anonymous_answers_and_the_admin_are_not_stored_either(client, client_for):
    assert "no-store" in client.get("/accounts/login/")["Cache-Control"]
    assert "no-store" in client.get("/api/v1/customers")["Cache-Control"]
    staff = UserFactory(username="admin", role="Admin", is_staff=True, is_superuser=True)
    response = client_for(staff).get(reverse(f"{admin.site.name}:auth_user_changelist"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_static_files_keep_their_cache_headers(client):
    response = client.get("/static/portal/portal.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


@pytest.mark.django_db
def test_a_view_that_sets_its_own_cache_control_keeps_it(client):
    from django.contrib.auth.decorators import login_not_required
    from django.http import HttpResponse
    from django.test import override_settings
    from django.urls import path

    @login_not_required
    def public(request):
        response = HttpResponse("public")
        response["Cache-Control"] = "max-age=60, public"
        return response

    class Urls:
        urlpatterns = [path("public", public)]

    with override_settings(ROOT_URLCONF=Urls):
        assert client.get("/public")["Cache-Control"] == "max-age=60, public"
