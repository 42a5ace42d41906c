"""The Tickets page, a ticket's page, opening a ticket and the profile's support history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import ActivityEvent
from payments.models import Payment
from portal.models import AuditEvent
from support import rules
from support.forms import event_reference
from support.models import EmailMessage, Ticket, TicketComment
from support.selectors import QUEUE_CODES, queue_counts, queue_page
from tests.factories import ActivityEventFactory, CustomerFactory, PaymentFactory, UserFactory
from tests.support.factories import TicketCommentFactory, TicketFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def _spread(agent, other):
    """Tickets in every queue: (status, assignee, priority, hours old)."""
    now = timezone.now()
    made = []
    for status, assignee, priority, hours in [
        ("open", agent, "normal", 30), ("open", agent, "urgent", 2), ("open", None, "low", 1),
        ("open", None, "high", 5), ("pending", agent, "high", 3), ("pending", None, "normal", 50),
        ("escalated", other, "urgent", 4), ("solved", agent, "normal", 3), ("closed", None, "low", 100),
        ("open", other, "normal", 1),
    ]:
        made.append(TicketFactory(status=status, assignee=assignee, priority=priority,
                                  created_at=now - timedelta(hours=hours)))
    return made


def test_queue_counts_match_the_rows(agent, manager):
    _spread(agent, manager)
    counts = queue_counts(agent)
    for code in QUEUE_CODES:
        assert counts[code] == len(queue_page(agent, code, size=100).rows), code
    assert counts == {"mine": 3, "unassigned": 3, "escalated": 1, "pending": 2, "open": 8}


def test_queues_put_overdue_first_then_priority_then_age(agent, manager):
    tickets = _spread(agent, manager)
    rows = [row.ticket for row in queue_page(agent, "open", size=100).rows]
    overdue = [t for t in rows if t.due_at and t.due_at <= timezone.now()]
    assert rows[: len(overdue)] == overdue and overdue
    rest = rows[len(overdue):]
    assert [(t.priority_rank, t.created_at) for t in rest] == sorted((t.priority_rank, t.created_at) for t in rest)
    assert tickets[1] in overdue  # urgent, 2 hours old: due after 1 hour


def test_keyset_pages_cover_the_queue_once(agent):
    now = timezone.now()
    for n in range(23):
        TicketFactory(priority=rules.PRIORITIES[n % 4], created_at=now - timedelta(hours=n))
    seen, cursor = [], None
    while True:
        page = queue_page(agent, "open", cursor=cursor, size=5)
        seen += [row.ticket.pk for row in page.rows]
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 23
    assert seen == [row.ticket.pk for row in queue_page(agent, "open", size=100).rows]


def test_tickets_page_shows_queues_with_counts_and_switches_with_htmx(agent_client, agent, manager):
    _spread(agent, manager)
    page = agent_client.get("/tickets/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Waiting on customer" in html and 'aria-current="page">Mine' in html.replace("\n", "").replace("  ", "")
    partial = agent_client.get("/tickets/?queue=escalated", headers={**HTMX, "HX-Target": "tickets-results"})
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    assert partial.content.decode().count('class="ticket-subject"') == 1


def test_a_bad_cursor_restarts_the_queue(agent_client):
    TicketFactory()
    response = agent_client.get("/tickets/?queue=open&cursor=forged.value")
    assert response.status_code == 200 and "showing the queue from the top" in response.content.decode()


def test_the_tickets_page_is_for_ticket_workers(client_for, viewer):
    assert client_for(viewer).get("/tickets/").status_code == 403


def _bulk_tickets(count: int, agent):
    customers = [CustomerFactory() for _ in range(20)]
    now = timezone.now()
    Ticket.objects.bulk_create([
        Ticket(customer=customers[n % 20], subject=f"Question {n}", status=("open", "pending", "escalated")[n % 3],
               priority=rules.PRIORITIES[n % 4], assignee=agent if n % 2 else None,
               created_at=now - timedelta(minutes=n * 7), due_at=now + timedelta(hours=12 - n % 24))
        for n in range(count)])


def test_tickets_page_queries_do_not_grow_with_the_tickets(agent_client, agent, django_assert_max_num_queries):
    _bulk_tickets(1000, agent)
    agent_client.get("/tickets/")  # warm the session
    # session + user, one page of rows, the counts of every queue, the access-log insert
    with django_assert_max_num_queries(5):
        response = agent_client.get("/tickets/?queue=open")
    assert response.content.decode().count('class="ticket-subject"') == 25
    with django_assert_max_num_queries(5):
        agent_client.get("/tickets/?queue=open", headers={**HTMX, "HX-Target": "tickets-results"})


def test_ticket_page_queries_are_fixed(agent_client, agent, django_assert_max_num_queries):
    _bulk_tickets(1000, agent)
    ticket = TicketFactory(payment=PaymentFactory(status="failed", failure_message="Card declined"))
    for n in range(30):
        TicketCommentFactory(ticket=ticket, public=bool(n % 2), author=agent)
    agent_client.get(f"/tickets/{ticket.public_id}/")
    # session + user, the ticket (payment joined), the header, the conversation, the agents, the access log
    with django_assert_max_num_queries(7):
        response = agent_client.get(f"/tickets/{ticket.public_id}/")
    assert response.status_code == 200


def test_ticket_page_shows_the_conversation_with_notes_apart(agent_client, agent):
    ticket = TicketFactory(description="My card was charged twice.")
    TicketCommentFactory(ticket=ticket, public=False, body="Checking the gateway", author=agent,
                         created_at=timezone.now() - timedelta(minutes=5))
    TicketCommentFactory(ticket=ticket, public=True, body="Refund on its way", author=agent)
    html = agent_client.get(f"/tickets/{ticket.public_id}/").content.decode()
    assert html.index("My card was charged twice.") < html.index("Checking the gateway") < html.index("Refund on its way")
    assert 'message message-note' in html and "Internal note" in html and 'message message-reply' in html
    assert 'id="profile-header"' in html  # the profile's own header partial
    assert "Reply due in" in html


def test_an_unknown_ticket_is_404(agent_client):
    assert agent_client.get("/tickets/tkt_0000000000000000/").status_code == 404


@pytest.mark.parametrize("path,data", [
    ("comments", {"body": "hi", "public": "0"}), ("status", {"status": "solved"}),
    ("priority", {"priority": "urgent"}), ("assign", {"assignee": ""}),
])
def test_ticket_writes_need_the_role_and_post(path, data, client_for, viewer, agent):
    ticket = TicketFactory(assignee=agent)
    url = f"/tickets/{ticket.public_id}/{path}/"
    assert client_for(viewer).post(url, data).status_code == 403
    assert client_for(agent).get(url).status_code == 405
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee_id) == ("open", "normal", agent.pk)
    assert not TicketComment.objects.exists()


def test_agent_comments_with_htmx_and_gets_the_body_back(agent_client, agent):
    ticket = TicketFactory()
    response = agent_client.post(f"/tickets/{ticket.public_id}/comments/", {"body": "Internal check", "public": "0"},
                                 headers={**HTMX, "HX-Target": "ticket-body"})
    assert response.status_code == 200 and 'id="ticket-body"' in response.content.decode()
    assert "Internal note added." in response["HX-Trigger"]
    assert TicketComment.objects.get().public is False


def test_bad_input_changes_nothing_and_says_why(agent_client, agent):
    ticket = TicketFactory()
    audits = AuditEvent.objects.count()
    blank = agent_client.post(f"/tickets/{ticket.public_id}/comments/", {"body": "  ", "public": "1"},
                              headers={**HTMX, "HX-Target": "ticket-body"})
    assert blank.status_code == 422 and "Write the" in blank.content.decode()
    refused = agent_client.post(f"/tickets/{ticket.public_id}/status/", {"status": "escalated"},
                                headers={**HTMX, "HX-Target": "ticket-body"})
    assert refused.status_code == 422 and "Escalate the ticket instead" in refused.content.decode()
    nobody = agent_client.post(f"/tickets/{ticket.public_id}/assign/", {"assignee": "nobody-here"},
                               headers={**HTMX, "HX-Target": "ticket-body"})
    assert nobody.status_code == 422 and "There is no active user" in nobody.content.decode()
    outsider = UserFactory(username="visitor")
    no_role = agent_client.post(f"/tickets/{ticket.public_id}/assign/", {"assignee": outsider.username},
                                headers={**HTMX, "HX-Target": "ticket-body"})
    assert no_role.status_code == 422 and "cannot work on tickets" in no_role.content.decode()
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee_id) == ("open", None)
    assert AuditEvent.objects.count() == audits and not TicketComment.objects.exists()


def test_assign_to_me_then_a_public_reply_queues_the_email(agent_client, agent, django_capture_on_commit_callbacks):
    ticket = TicketFactory()
    agent_client.post(f"/tickets/{ticket.public_id}/assign/", {"assignee": "agent"})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = agent_client.post(f"/tickets/{ticket.public_id}/comments/", {"body": "Refund sent.", "public": "1"})
    assert response.status_code == 302 and response["Location"] == f"/tickets/{ticket.public_id}/"
    ticket.refresh_from_db()
    assert ticket.assignee == agent and ticket.due_at is None
    comment = TicketComment.objects.get()
    email = EmailMessage.objects.get()
    assert comment.email == email and email.template.code == "ticket-reply"
    assert email.subject == f"Re: {ticket.subject}" and "Refund sent." in email.text_body
    assert len(callbacks) == 1  # the delivery task, after commit


# ---- Opening a ticket ------------------------------------------------------------------------------------------

def test_open_a_ticket_from_a_failed_payment(agent_client, agent):
    payment = PaymentFactory(status=Payment.Status.FAILED, amount=4999, failure_code="card_declined",
                             failure_message="Your card was declined.")
    customer = payment.customer
    form = agent_client.get(f"/customers/{customer.public_id}/tickets/new/?payment={payment.public_id}")
    html = form.content.decode()
    assert form.status_code == 200 and "$49.99" in html and "Your card was declined." in html
    assert f'value="Payment {payment.public_id} failed: Your card was declined."' in html
    response = agent_client.post(f"/customers/{customer.public_id}/tickets/new/", {
        "subject": "Card declined on renewal", "description": "Customer called about the decline.",
        "priority": "high", "payment": payment.public_id, "event": ""})
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/tickets/{ticket.public_id}/"
    assert (ticket.payment, ticket.priority, ticket.created_by) == (payment, "high", agent)
    page = agent_client.get(response["Location"]).content.decode()
    assert "Your card was declined." in page and "$49.99" in page and payment.public_id in page
    event = ActivityEvent.objects.get(action="ticket.opened")
    assert event.payload == {"ticket": ticket.public_id, "payment": payment.public_id}
    assert "Card declined" not in event.summary  # the subject stays out of the timeline row


def test_open_a_ticket_from_a_timeline_event(agent_client):
    event = ActivityEventFactory(summary="Plan changed to Pro Monthly")
    token = event_reference(event.pk)
    form = agent_client.get(f"/customers/{event.customer.public_id}/tickets/new/", {"event": token})
    assert "Plan changed to Pro Monthly" in form.content.decode()
    agent_client.post(f"/customers/{event.customer.public_id}/tickets/new/", {
        "subject": "Plan question", "description": "Asked why.", "priority": "normal", "event": token})
    assert Ticket.objects.get().activity_event == event


def test_another_customers_payment_or_a_forged_event_is_refused(agent_client):
    customer = CustomerFactory()
    foreign = PaymentFactory(status="failed")
    response = agent_client.post(f"/customers/{customer.public_id}/tickets/new/", {
        "subject": "S", "description": "D", "priority": "normal", "payment": foreign.public_id})
    assert response.status_code == 422 and "no payment with that id" in response.content.decode()
    forged = agent_client.post(f"/customers/{customer.public_id}/tickets/new/", {
        "subject": "S", "description": "D", "priority": "normal", "event": "123:forged"})
    assert forged.status_code == 422 and "not valid" in forged.content.decode()
    assert not Ticket.objects.exists()


def test_opening_needs_the_role(client_for, viewer):
    customer = CustomerFactory()
    client = client_for(viewer)
    assert client.get(f"/customers/{customer.public_id}/tickets/new/").status_code == 403
    assert client.post(f"/customers/{customer.public_id}/tickets/new/", {
        "subject": "S", "description": "D", "priority": "normal"}).status_code == 403
    assert not Ticket.objects.exists()


# ---- Support history on the profile ----------------------------------------------------------------------------

def test_tickets_tab_lists_the_customers_tickets_newest_first(agent_client, agent):
    customer = CustomerFactory()
    old = TicketFactory(customer=customer, subject="Older one", created_at=timezone.now() - timedelta(days=3))
    new = TicketFactory(customer=customer, subject="Newer one", assignee=agent, status="pending")
    TicketFactory(subject="Someone else's")
    html = agent_client.get(f"/customers/{customer.public_id}/tickets/").content.decode()
    assert html.index("Newer one") < html.index("Older one") and "Someone else" not in html
    assert "Waiting on customer" in html and f"/tickets/{new.public_id}/" in html and old.public_id in html


def test_payments_rows_offer_a_ticket_for_failed_payments_only(agent_client, client_for, viewer):
    customer = CustomerFactory()
    failed = PaymentFactory(customer=customer, status="failed")
    paid = PaymentFactory(customer=customer, status="succeeded")
    html = agent_client.get(f"/customers/{customer.public_id}/payments/").content.decode()
    assert f"tickets/new/?payment={failed.public_id}" in html and f"?payment={paid.public_id}" not in html
    assert "tickets/new/" not in client_for(viewer).get(f"/customers/{customer.public_id}/payments/").content.decode()


def test_activity_links_ticket_events_and_offers_tickets_from_others(agent_client, agent):
    customer = CustomerFactory()
    ActivityEventFactory(customer=customer, summary="Plan changed")
    from support.services import ticket_open

    ticket = ticket_open(customer=customer, subject="Where is my refund", description="D", actor=agent)
    html = agent_client.get(f"/customers/{customer.public_id}/activity/").content.decode()
    assert f'href="/tickets/{ticket.public_id}/">Where is my refund</a>' in html
    assert html.count("Open ticket</a>") == 2  # the header's button and the plan-change event's
