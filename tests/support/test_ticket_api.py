"""The tickets API: same services and rules as the pages; bad input is a 4xx with a sentence and changes nothing."""

from __future__ import annotations

import json

import pytest

from portal.models import AuditEvent
from support.models import EmailMessage, Ticket, TicketComment
from tests.factories import CustomerFactory, PaymentFactory
from tests.support.factories import TicketFactory

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def api(agent, api_client_for):
    return api_client_for(agent)


def test_open_list_read_comment_move_and_assign(api, agent):
    customer = CustomerFactory()
    payment = PaymentFactory(customer=customer, status="failed", failure_message="Insufficient funds")
    created = post(api, f"/api/v1/customers/{customer.public_id}/tickets",
                   {"subject": "Renewal failed", "body": "Asked to retry tomorrow", "priority": "high",
                    "payment": payment.public_id})
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["priority"] == "high" and data["status"] == "open" and data["reply"]["state"] == "due"
    assert data["payment"]["failure_message"] == "Insufficient funds"
    assert data["payment"]["amount"] == {"amount": payment.amount, "currency": "USD"}
    tkt = data["id"]

    assigned = post(api, f"/api/v1/tickets/{tkt}/assign", {"assignee": "agent"})
    assert assigned.status_code == 200 and assigned.json()["assignee"] == "agent"
    mine = api.get("/api/v1/tickets?queue=mine").json()
    assert [row["id"] for row in mine["results"]] == [tkt] and mine["counts"]["mine"] == 1

    note = post(api, f"/api/v1/tickets/{tkt}/comments", {"body": "Checked the gateway", "public": False})
    assert note.status_code == 201 and note.json()["kind"] == "note" and note.json()["email"] is None
    reply = post(api, f"/api/v1/tickets/{tkt}/comments", {"body": "Please retry tomorrow.", "public": True})
    assert reply.status_code == 201 and reply.json()["kind"] == "reply"
    assert reply.json()["email"] == EmailMessage.objects.get().public_id

    moved = post(api, f"/api/v1/tickets/{tkt}/status", {"status": "pending"})
    assert moved.status_code == 200 and moved.json()["status"] == "pending"
    assert moved.json()["reply"]["state"] == "stopped" and moved.json()["first_response_at"]
    detail = api.get(f"/api/v1/tickets/{tkt}").json()
    assert [c["kind"] for c in detail["comments"]] == ["note", "reply"]
    listed = api.get(f"/api/v1/customers/{customer.public_id}/tickets").json()
    assert [row["id"] for row in listed["results"]] == [tkt]
    unassigned = post(api, f"/api/v1/tickets/{tkt}/assign", {"assignee": None})
    assert unassigned.json()["assignee"] is None


@pytest.mark.parametrize("body,status,code", [
    ({"subject": "S"}, 400, "invalid"),
    ({"subject": "S", "body": 5}, 400, "invalid"),
    ({"subject": "S", "body": "B", "extra": 1}, 400, "unknown_field"),
    ({"subject": " ", "body": "B"}, 422, "invalid_subject"),
    ({"subject": "S", "body": "B", "priority": "asap"}, 422, "invalid_priority"),
    ({"subject": "S", "body": "B", "payment": "pay_unknown"}, 422, "invalid_payment"),
    ({"subject": "x" * 201, "body": "B"}, 422, "invalid_subject"),
])
def test_bad_input_to_open_changes_nothing(api, body, status, code):
    customer = CustomerFactory()
    response = post(api, f"/api/v1/customers/{customer.public_id}/tickets", body)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not Ticket.objects.exists() and not AuditEvent.objects.filter(action__startswith="support.").exists()


@pytest.mark.parametrize("path,body,status", [
    ("comments", {"body": "", "public": True}, 422),
    ("comments", {"body": "x", "public": "yes"}, 400),
    ("comments", {"body": "x"}, 400),
    ("status", {"status": "escalated"}, 422),
    ("status", {"status": "done"}, 422),
    ("status", {}, 400),
    ("priority", {"priority": "normal"}, 422),  # unchanged
    ("assign", {"assignee": "ghost"}, 422),
    ("assign", {"assignee": 7}, 400),
])
def test_bad_input_to_a_ticket_changes_nothing(api, path, body, status):
    ticket = TicketFactory()
    response = post(api, f"/api/v1/tickets/{ticket.public_id}/{path}", body)
    assert response.status_code == status, response.content
    assert response.json()["error"]["message"]
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee_id) == ("open", "normal", None)
    assert not TicketComment.objects.exists() and not EmailMessage.objects.exists()


def test_a_closed_ticket_takes_nothing(api):
    ticket = TicketFactory(status="closed")
    for path, body in (("comments", {"body": "x", "public": False}), ("priority", {"priority": "high"}),
                       ("assign", {"assignee": "agent"}), ("status", {"status": "open"})):
        response = post(api, f"/api/v1/tickets/{ticket.public_id}/{path}", body)
        assert response.status_code == 422 and "closed" in response.json()["error"]["message"]


def test_roles(viewer, api_client_for):
    ticket = TicketFactory()
    client = api_client_for(viewer)
    assert client.get(f"/api/v1/tickets/{ticket.public_id}").status_code == 200  # reading a customer's data
    assert client.get("/api/v1/tickets").status_code == 403  # the work queues
    assert post(client, f"/api/v1/tickets/{ticket.public_id}/comments", {"body": "x", "public": False}).status_code == 403
    assert post(client, f"/api/v1/customers/{ticket.customer.public_id}/tickets",
                {"subject": "S", "body": "B"}).status_code == 403
    assert Ticket.objects.count() == 1 and not TicketComment.objects.exists()


def test_queue_paging_and_bad_queries(api):
    for _ in range(30):
        TicketFactory()
    first = api.get("/api/v1/tickets?queue=open").json()
    second = api.get(f"/api/v1/tickets?queue=open&cursor={first['next_cursor']}").json()
    assert len(first["results"]) == 25 and len(second["results"]) == 5 and second["next_cursor"] is None
    assert api.get("/api/v1/tickets?queue=everything").status_code == 400
    assert api.get("/api/v1/tickets?queue=open&cursor=forged").json()["error"]["code"] == "invalid_cursor"
    assert api.get("/api/v1/tickets/tkt_none").status_code == 404


def test_idempotent_open(api):
    customer = CustomerFactory()
    url = f"/api/v1/customers/{customer.public_id}/tickets"
    body = json.dumps({"subject": "S", "body": "B"})
    first = api.post(url, body, content_type="application/json", headers={"Idempotency-Key": "k1"})
    again = api.post(url, body, content_type="application/json", headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert Ticket.objects.count() == 1
