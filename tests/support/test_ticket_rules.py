"""Ticket lifecycle and reply clock: every (status, target) pair against support/rules.py, for each role; the
response-target boundaries with a fixed clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from portal.errors import DomainError
from portal.models import AuditEvent
from support import rules
from support.models import Ticket
from support.services import ticket_comment_add, ticket_priority_change, ticket_status_change
from tests.support.factories import TicketFactory

pytestmark = pytest.mark.django_db

PAIRS = [(current, target) for current in rules.STATUSES for target in rules.STATUSES]


def test_the_table_answers_every_pair_with_a_sentence():
    assert set(rules.TRANSITIONS) == {(a, b) for a, b in PAIRS if a != b}
    for current, target in PAIRS:
        move = rules.move(current, target)
        assert move.sentence.endswith(".") and len(move.sentence) > 10


def test_escalated_is_never_entered_or_left_by_hand():
    for status in rules.STATUSES:
        if status != rules.ESCALATED:
            assert not rules.move(status, rules.ESCALATED).allowed
            assert not rules.move(rules.ESCALATED, status).allowed
    assert rules.move(rules.OPEN, rules.ESCALATED).sentence.startswith("Escalate the ticket instead")
    assert rules.move(rules.ESCALATED, rules.OPEN).sentence.startswith("A manager resolves the escalation")


@pytest.mark.parametrize("persona", ["agent", "manager"])
@pytest.mark.parametrize("current,target", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_a_person_who_works_tickets_moves_it_as_the_table_says(current, target, persona, request):
    actor = request.getfixturevalue(persona)
    ticket = TicketFactory(status=current)
    audits = AuditEvent.objects.count()
    expected = rules.move(current, target)
    if expected.allowed:
        ticket_status_change(ticket=ticket, status=target, actor=actor)
        ticket.refresh_from_db()
        assert ticket.status == target
        assert AuditEvent.objects.count() == audits + 1
    else:
        with pytest.raises(DomainError) as refused:
            ticket_status_change(ticket=ticket, status=target, actor=actor)
        assert refused.value.message == expected.sentence
        ticket.refresh_from_db()
        assert ticket.status == current and AuditEvent.objects.count() == audits


@pytest.mark.parametrize("current,target", PAIRS[::3], ids=[f"{a}->{b}" for a, b in PAIRS[::3]])
def test_a_read_only_role_may_move_nothing(current, target, viewer, api_client_for):
    ticket = TicketFactory(status=current)
    response = api_client_for(viewer).post(f"/api/v1/tickets/{ticket.public_id}/status",
                                           json.dumps({"status": target}), content_type="application/json")
    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == current


def test_an_unknown_status_is_refused_with_the_list():
    assert not rules.move("open", "archived").allowed
    assert "open, pending, escalated, solved, closed" in rules.move("open", "archived").sentence


# ---- Response targets ----------------------------------------------------------------------------------------

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("priority,hours", [("urgent", 1), ("high", 4), ("normal", 24), ("low", 72)])
def test_default_targets(priority, hours):
    assert rules.response_target(priority) == timedelta(hours=hours)
    assert rules.reply_due_at(created_at=NOON, priority=priority) == NOON + timedelta(hours=hours)


def test_targets_come_from_settings(settings):
    settings.TICKET_RESPONSE_TARGET_HOURS = {**settings.TICKET_RESPONSE_TARGET_HOURS, "urgent": 0.5}
    assert rules.response_target("urgent") == timedelta(minutes=30)


@pytest.mark.parametrize("offset,overdue,label", [
    (timedelta(hours=-1), False, "reply due in 1 h"),
    (timedelta(minutes=-59, seconds=-59), False, "reply due in 59 min"),
    (timedelta(seconds=-1), False, "reply due in 0 min"),
    (timedelta(0), True, "overdue by 0 min"),  # due at 13:00 means late at 13:00
    (timedelta(seconds=59), True, "overdue by 0 min"),
    (timedelta(minutes=1), True, "overdue by 1 min"),
    (timedelta(hours=25, minutes=5), True, "overdue by 1 d 1 h"),
    (timedelta(days=3), True, "overdue by 3 d"),
])
def test_the_clock_at_its_boundaries(offset, overdue, label):
    due = NOON + timedelta(hours=1)
    clock = rules.ReplyClock(due, due + offset)
    assert (clock.running, clock.overdue, clock.label) == (True, overdue, label)


def test_a_stopped_clock_shows_nothing():
    clock = rules.ReplyClock(None, NOON)
    assert (clock.running, clock.overdue, clock.label) == (False, False, "")


def test_a_public_reply_stops_the_clock_and_a_note_does_not(agent):
    ticket = TicketFactory(priority="high")
    ticket_comment_add(ticket=ticket, body="Looking into it", public=False, actor=agent)
    ticket.refresh_from_db()
    assert ticket.due_at is not None and ticket.first_response_at is None
    ticket_comment_add(ticket=ticket, body="Refunded the duplicate.", public=True, actor=agent)
    ticket.refresh_from_db()
    assert ticket.due_at is None and ticket.first_response_at is not None


@pytest.mark.parametrize("status", ["pending", "solved"])
def test_waiting_on_the_customer_or_solving_stops_the_clock_for_good(status, agent):
    ticket = TicketFactory()
    ticket_status_change(ticket=ticket, status=status, actor=agent)
    ticket_status_change(ticket=ticket, status="open", actor=agent)
    ticket.refresh_from_db()
    assert ticket.due_at is None and ticket.first_response_at is None


def test_a_priority_change_re_aims_a_running_clock_only(agent):
    opened = NOON - timedelta(hours=2)
    running = TicketFactory(priority="low", created_at=opened)
    ticket_priority_change(ticket=running, priority="urgent", actor=agent)
    running.refresh_from_db()
    assert running.due_at == opened + timedelta(hours=1)
    stopped = TicketFactory(priority="low", created_at=opened, due_at=None, status=Ticket.Status.PENDING)
    ticket_priority_change(ticket=stopped, priority="urgent", actor=agent)
    stopped.refresh_from_db()
    assert stopped.due_at is None
