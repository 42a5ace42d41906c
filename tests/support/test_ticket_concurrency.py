"""Two people acting on one ticket at the same moment, against real Postgres: the services lock the customer,
then the ticket, so the actions queue up and the ticket ends in one consistent state."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from customers.models import ActivityEvent
from portal.errors import DomainError
from portal.models import AuditEvent
from portal.roles import sync_roles
from support.models import EmailMessage, Ticket, TicketComment
from support.services import ticket_comment_add, ticket_status_change
from tests.factories import UserFactory
from tests.support.factories import EmailTemplateFactory, TicketFactory

ROUNDS = 10


@pytest.fixture
def people(transactional_db):
    sync_roles()  # the flush after a transactional test removes the groups the data migration made
    EmailTemplateFactory(code="ticket-reply", name="Ticket reply", subject="Re: {{ ticket_subject }}",
                         body="Hi {{ first_name }},\n\n{{ reply_body }}")
    return UserFactory(username="ann", role="Agent"), UserFactory(username="bob", role="Agent")


def _at_once(*actions):
    """Run the actions in threads released together; each returns its result or the DomainError it raised."""
    barrier = threading.Barrier(len(actions))

    def run(action):
        barrier.wait()
        try:
            return action()
        except DomainError as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(run, actions))


def test_a_reply_and_a_status_change_at_once_both_land(people):
    ann, bob = people
    for _ in range(ROUNDS):
        ticket = TicketFactory()
        reply, moved = _at_once(
            lambda: ticket_comment_add(ticket=ticket, body="We refunded the duplicate.", public=True, actor=ann),
            lambda: ticket_status_change(ticket=ticket, status="pending", actor=bob))
        assert not isinstance(reply, DomainError) and not isinstance(moved, DomainError)
        ticket.refresh_from_db()
        assert ticket.status == "pending" and ticket.due_at is None and ticket.first_response_at is not None
        comment = TicketComment.objects.get(ticket=ticket)
        assert comment.public and comment.email_id is not None
        audits = AuditEvent.objects.filter(object_id=ticket.public_id).values_list("action", flat=True)
        assert sorted(audits) == ["support.ticket.replied", "support.ticket.status_changed"]
        assert ActivityEvent.objects.filter(payload__ticket=ticket.public_id).count() == 2
    assert EmailMessage.objects.count() == ROUNDS


def test_two_identical_moves_at_once_happen_once(people):
    ann, bob = people
    for _ in range(ROUNDS):
        ticket = TicketFactory()
        outcomes = _at_once(lambda: ticket_status_change(ticket=ticket, status="solved", actor=ann),
                            lambda: ticket_status_change(ticket=ticket, status="solved", actor=bob))
        refused = [o for o in outcomes if isinstance(o, DomainError)]
        assert len(refused) == 1 and refused[0].message == "The ticket is already solved."
        assert Ticket.objects.get(pk=ticket.pk).status == "solved"
        assert AuditEvent.objects.filter(object_id=ticket.public_id).count() == 1


def test_a_solve_and_a_wait_at_once_follow_the_rules_in_either_order(people):
    """open → solved and open → pending together: whichever runs second is judged against the first's result
    (solved → pending is refused; pending → solved is allowed), never against the stale open."""
    ann, bob = people
    for _ in range(ROUNDS):
        ticket = TicketFactory()
        solved, pending = _at_once(lambda: ticket_status_change(ticket=ticket, status="solved", actor=ann),
                                   lambda: ticket_status_change(ticket=ticket, status="pending", actor=bob))
        final = Ticket.objects.get(pk=ticket.pk)
        moves = list(AuditEvent.objects.filter(object_id=ticket.public_id).order_by("id").values_list("after", flat=True))
        if isinstance(pending, DomainError):  # solve ran first
            assert final.status == "solved" and moves == [{"status": "solved"}]
        else:  # wait ran first, then solve from pending
            assert not isinstance(solved, DomainError)
            assert final.status == "solved" and moves == [{"status": "pending"}, {"status": "solved"}]
        assert final.due_at is None
