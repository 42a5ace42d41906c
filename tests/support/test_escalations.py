"""Escalations: raising (page, API), one open per customer or ticket (also under a race), the managers' queue,
resolving (managers only), the directory and header markers, the timeline, and the query budget of the queue."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from customers.models import ActivityEvent, Customer
from portal.models import AuditEvent
from portal.roles import sync_roles
from support.escalations import escalation_raise, escalation_resolve
from support.models import Escalation, Ticket
from tests.factories import CustomerFactory, PaymentFactory, UserFactory
from tests.support.factories import TicketFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
NOTE = "Charged twice, card ends 4242, very upset"


@pytest.fixture
def customer(db):
    return CustomerFactory(first_name="Ada", last_name="Lovelace", email="ada@example.com")


def profile_url(customer) -> str:
    return f"/customers/{customer.public_id}/"


def escalate_url(customer) -> str:
    return f"/customers/{customer.public_id}/escalate/"


def resolve_url(escalation) -> str:
    return f"/escalations/{escalation.public_id}/resolve/"


def api_escalate(client, customer, **body):
    return client.post(f"/api/v1/customers/{customer.public_id}/escalations", json.dumps(body),
                       content_type="application/json")


def api_resolve(client, escalation, **body):
    return client.post(f"/api/v1/escalations/{escalation.public_id}/resolve", json.dumps(body),
                       content_type="application/json")


def directory_row(client, customer) -> str:
    body = client.get("/customers/", {"q": customer.public_id[:10]}).content.decode()
    row = re.search(rf'<tr data-row-href="[^"]*{customer.public_id}[^"]*">.*?</tr>', body, re.S)
    assert row, "the customer is listed"
    return row.group(0)


# ---- Raising ---------------------------------------------------------------------------------------------------

def test_an_agent_escalates_a_customer_from_the_profile(agent_client, agent, customer):
    form = agent_client.get(escalate_url(customer), headers=HTMX)
    assert form.status_code == 200 and "Billing dispute" in form.content.decode()

    response = agent_client.post(escalate_url(customer), {"reason": "billing_dispute", "note": NOTE}, headers=HTMX)

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#profile-header"
    assert "Escalated" in response.content.decode()
    escalation = Escalation.objects.get()
    assert (escalation.status, escalation.reason, escalation.note, escalation.raised_by) == (
        "open", "billing_dispute", NOTE, agent)
    customer.refresh_from_db()
    assert customer.escalated_at == escalation.raised_at
    audit = AuditEvent.objects.get(action="support.escalation.raised")
    assert audit.data == {"escalation": escalation.public_id, "reason": "billing_dispute", "ticket": None,
                          "note_length": len(NOTE)}
    assert NOTE not in json.dumps(audit.data)
    event = ActivityEvent.objects.get(action="escalation.raised")
    assert event.summary == "Customer escalated to a manager: Billing dispute" and NOTE not in event.summary


def test_escalating_a_ticket_marks_it_escalated_and_resolving_reopens_it(agent, manager, customer):
    ticket = TicketFactory(customer=customer, status=Ticket.Status.PENDING)
    escalation = escalation_raise(customer=customer, ticket=ticket, reason="technical", actor=agent)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ESCALATED
    # A ticket's escalation and the customer's own are separate: both may be open.
    escalation_raise(customer=customer, reason="complaint", actor=agent)
    escalation_resolve(escalation=escalation, note="Fixed the sync bug", actor=manager)
    ticket.refresh_from_db()
    customer.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN
    assert customer.escalated_at is not None  # the customer's own escalation is still open


def test_a_closed_ticket_or_another_customers_ticket_is_refused(agent, customer):
    from portal.errors import DomainError

    with pytest.raises(DomainError, match="reopen it"):
        escalation_raise(customer=customer, ticket=TicketFactory(customer=customer, status="closed"),
                         reason="technical", actor=agent)
    with pytest.raises(DomainError, match="another customer"):
        escalation_raise(customer=customer, ticket=TicketFactory(), reason="technical", actor=agent)
    assert not Escalation.objects.exists()


def test_other_needs_a_note_and_bad_input_changes_nothing(agent_client, customer):
    response = agent_client.post(escalate_url(customer), {"reason": "other", "note": " "}, headers=HTMX)
    assert response.status_code == 422 and "Write what the manager should look at" in response.content.decode()
    response = agent_client.post(escalate_url(customer), {"reason": "bored"}, headers=HTMX)
    assert response.status_code == 422
    assert not Escalation.objects.exists()
    assert agent_client.get(escalate_url(customer).replace("escalate/", "escalate/x/")).status_code == 404


def test_escalating_twice_is_refused_with_who_and_when(agent_client, api_client_for, agent, customer):
    first = UserFactory(username="first-agent", role="Agent")
    escalation_raise(customer=customer, reason="complaint", actor=first)

    page = agent_client.post(escalate_url(customer), {"reason": "billing_dispute"}, headers=HTMX)
    assert page.status_code == 422
    assert "already escalated: by first-agent at" in page.content.decode()

    api = api_escalate(api_client_for(agent), customer, reason="billing_dispute")
    assert api.status_code == 409
    assert api.json()["error"]["code"] == "already_escalated"
    assert "by first-agent at" in api.json()["error"]["message"]
    assert Escalation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(2))
def test_two_agents_escalating_at_once_make_one_open_escalation(attempt):
    """Six agents press Escalate on one customer at the same moment, against real Postgres."""
    from portal.services import api_token_create

    sync_roles()  # the flush after a transactional test removes the roles' groups
    customer = CustomerFactory()
    secrets = []
    for n in range(6):
        agent = UserFactory(username=f"racer{n}", role="Agent")
        secrets.append(api_token_create(user=agent, name="race", actor=agent)[1])
    barrier, answers = threading.Barrier(6), []

    def send(secret):
        try:
            client = Client(headers={"Authorization": f"Bearer {secret}"})
            barrier.wait()
            answers.append(api_escalate(client, customer, reason="complaint", note="Threatens to leave"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(secret,)) for secret in secrets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Escalation.objects.filter(customer=customer, status="open").count() == 1
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 409, 409, 409, 409, 409], statuses
    winner = Escalation.objects.get().raised_by.username
    assert all(f"by {winner} at" in a.json()["error"]["message"] for a in answers if a.status_code == 409)


# ---- The queue and resolving -------------------------------------------------------------------------------------

def test_only_managers_see_the_queue_and_resolve(client_for, api_client_for, agent, manager, customer):
    escalation = escalation_raise(customer=customer, reason="legal", note=NOTE, actor=agent)
    agent_client = client_for(agent)
    assert agent_client.get("/escalations/").status_code == 403
    assert agent_client.post(resolve_url(escalation), {"note": "Mine now"}).status_code == 403
    assert api_resolve(api_client_for(agent), escalation, note="Mine now").status_code == 403
    assert api_client_for(agent).get("/api/v1/escalations").status_code == 403
    escalation.refresh_from_db()
    assert escalation.is_open

    # The agent sees the escalation on the profile with the Resolve button disabled, and why.
    header = agent_client.get(profile_url(customer)).content.decode()
    assert re.search(r"<button[^>]*disabled[^>]*>Resolve</button>", header)
    assert "Only a manager can resolve escalations." in header

    page = client_for(manager).get("/escalations/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Ada Lovelace" in body and "Legal, fraud or compliance" in body and "raised by agent" in body
    assert NOTE in body
    assert client_for(manager).get(resolve_url(escalation)).status_code == 405


def test_the_sidebar_shows_escalations_to_managers_only(client_for, agent, manager):
    assert 'data-shortcut="g e"' in client_for(manager).get("/customers/").content.decode()
    assert "/escalations/" not in client_for(agent).get("/customers/").content.decode()


def test_a_manager_resolves_and_the_raiser_sees_it_on_the_timeline(client_for, agent, manager, customer):
    escalation = escalation_raise(customer=customer, reason="refund_over_limit", note=NOTE, actor=agent)
    response = client_for(manager).post(resolve_url(escalation), {"note": "Approved the full refund"},
                                        headers={**HTMX, "HX-Target": f"escalation-{escalation.public_id}"})
    assert response.status_code == 200
    assert "Resolved" in response.content.decode() and "Approved the full refund" in response.content.decode()
    escalation.refresh_from_db()
    assert (escalation.status, escalation.resolved_by, escalation.resolution_note) == (
        "resolved", manager, "Approved the full refund")
    audit = AuditEvent.objects.get(action="support.escalation.resolved")
    assert "Approved" not in json.dumps(audit.data) and audit.data["escalation"] == escalation.public_id

    timeline = client_for(agent).get(f"/customers/{customer.public_id}/activity/").content.decode()
    assert "Escalation resolved by manager" in timeline
    assert "Approved the full refund" in timeline  # shown from the escalation row
    api = api_client_for_agent = client_for(agent)
    activity = api_client_for_agent.get(f"/api/v1/customers/{customer.public_id}/activity").json()["results"]
    resolved = next(event for event in activity if event["action"] == "escalation.resolved")
    assert resolved["detail"] == "Approved the full refund"
    del api


def test_resolving_twice_is_a_clear_refusal(client_for, api_client_for, agent, manager, customer):
    escalation = escalation_raise(customer=customer, reason="complaint", actor=agent)
    assert api_resolve(api_client_for(manager), escalation, note="Called them back").status_code == 200
    again = api_resolve(api_client_for(manager), escalation, note="Called them again")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_resolved"
    assert "already resolved by manager at" in again.json()["error"]["message"]
    page = client_for(manager).post(resolve_url(escalation), {"note": "Third time"}, follow=True)
    assert "already resolved by manager" in page.content.decode()
    escalation.refresh_from_db()
    assert escalation.resolution_note == "Called them back"
    assert AuditEvent.objects.filter(action="support.escalation.resolved").count() == 1


def test_resolving_needs_a_note(client_for, agent, manager, customer):
    escalation = escalation_raise(customer=customer, reason="complaint", actor=agent)
    response = client_for(manager).post(resolve_url(escalation), {"note": "  "}, headers=HTMX)
    assert response.status_code == 422
    escalation.refresh_from_db()
    assert escalation.is_open


def test_a_manager_resolves_from_the_profile_header(client_for, agent, manager, customer):
    escalation = escalation_raise(customer=customer, reason="complaint", actor=agent)
    header = client_for(manager).get(profile_url(customer)).content.decode()
    assert "Resolve…" in header
    response = client_for(manager).post(resolve_url(escalation), {"note": "Sorted", "back": "profile"},
                                        headers=HTMX)
    assert response.status_code == 200 and response["HX-Retarget"] == "#profile-header"
    assert 'id="escalation-bar"' not in response.content.decode()


# ---- Markers -----------------------------------------------------------------------------------------------------

def test_the_directory_and_header_markers_come_and_go(client_for, agent, manager, customer):
    agent_client = client_for(agent)
    assert "escalation-marker" not in directory_row(agent_client, customer)
    assert "escalation-marker" not in agent_client.get(profile_url(customer)).content.decode()

    escalation = escalation_raise(customer=customer, reason="churn_risk", actor=agent)
    assert "escalation-marker" in directory_row(agent_client, customer)
    header = agent_client.get(profile_url(customer)).content.decode()
    assert 'id="escalation-bar"' in header and "Valuable customer about to leave" in header
    api_row = agent_client.get("/api/v1/customers", {"q": customer.public_id[:10]}).json()["results"][0]
    assert api_row["escalated_at"] is not None

    escalation_resolve(escalation=escalation, note="Offered a discount", actor=manager)
    assert "escalation-marker" not in directory_row(agent_client, customer)
    assert 'id="escalation-bar"' not in agent_client.get(profile_url(customer)).content.decode()


def test_the_directory_costs_the_same_queries_with_escalated_customers(agent_client, agent):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    customers = [CustomerFactory() for _ in range(30)]
    agent_client.get("/customers/")  # lookups read, session written
    with CaptureQueriesContext(connection) as before:
        agent_client.get("/customers/")
    for customer in customers[::2]:
        escalation_raise(customer=customer, reason="complaint", actor=agent)
    agent_client.get("/customers/")  # the escalations saved customers: the lookups are read again here
    with CaptureQueriesContext(connection) as after:
        body = agent_client.get("/customers/").content.decode()
    assert len(after.captured_queries) == len(before.captured_queries)
    assert body.count('class="escalation-marker"') == 12  # 25 rows on page 1: 12 or 13 of them escalated


# ---- Query budget --------------------------------------------------------------------------------------------------

def test_the_queue_reads_a_fixed_number_of_queries_with_200_escalations(client_for, manager, agent,
                                                                       django_assert_max_num_queries):
    now = timezone.now()
    customers = Customer.objects.bulk_create([
        Customer(first_name=f"Cus{n}", last_name="Tomer", email=f"c{n}@example.com", country="US",
                 storefront=CustomerFactory().storefront, registered_at=now, escalated_at=now)
        for n in range(200)])
    Escalation.objects.bulk_create([
        Escalation(customer=c, reason="complaint", note="Angry", raised_by=agent,
                   raised_at=now - timedelta(minutes=n)) for n, c in enumerate(customers)])
    for c in customers[:30]:
        for _ in range(5):
            PaymentFactory(customer=c)
        TicketFactory(customer=c)
    client = client_for(manager)
    first = client.get("/escalations/")
    assert first.status_code == 200
    cursor = first.context["queue"].next_cursor
    assert len(first.context["queue"].panels) == 25
    # session + user with roles, page, payments, tickets, count, access-log insert
    with django_assert_max_num_queries(8):
        page = client.get("/escalations/", {"cursor": cursor})
    assert len(page.context["queue"].panels) == 25
    assert all(len(panel.payments) <= 3 for panel in first.context["queue"].panels)
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/escalations", {"status": "open"}).status_code == 200


def test_the_api_lists_the_queue_and_pages_through_it(api_client_for, manager, agent):
    for _ in range(30):
        escalation_raise(customer=CustomerFactory(), reason="complaint", actor=agent)
    api = api_client_for(manager)
    first = api.get("/api/v1/escalations", {"status": "open"}).json()
    assert len(first["results"]) == 25 and first["count"] == {"value": 30, "exact": True}
    second = api.get("/api/v1/escalations", {"status": "open", "cursor": first["next_cursor"]}).json()
    assert len(second["results"]) == 5 and second["next_cursor"] is None
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert len(set(ids)) == 30
    assert api.get("/api/v1/escalations", {"cursor": "nope"}).status_code == 400
    assert api.get("/api/v1/escalations", {"status": "closed"}).status_code == 400
    assert api.get("/api/v1/escalations", {"status": "resolved"}).json()["results"] == []


def test_the_api_raises_with_a_ticket_and_refuses_bad_bodies(api_client_for, agent, customer):
    api = api_client_for(agent)
    ticket = TicketFactory(customer=customer)
    created = api_escalate(api, customer, reason="technical", note="Sync fails", ticket=ticket.public_id)
    assert created.status_code == 201
    assert created.json()["id"].startswith("esc_") and created.json()["ticket"]["status"] == "escalated"
    assert api_escalate(api, customer, reason="nope").status_code == 400
    assert api_escalate(api, customer, reason="technical", ticket="tkt_missing").status_code == 400
    assert api_escalate(api, customer, reason="technical", color="red").status_code == 400
    assert api_escalate(api, customer, reason=3).status_code == 400
    assert Escalation.objects.count() == 1
