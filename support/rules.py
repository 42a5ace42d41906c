"""Ticket rules people change: which status moves an agent may make, and how fast a ticket needs a reply.

Services (support/services.py) and pages read these; they never restate them.

Statuses (support.models.Ticket.Status):
    open       the team owes the customer something
    pending    waiting on the customer (the next move is theirs)
    escalated  a manager is on it (only through an escalation; see below)
    solved     done, the customer may still come back
    closed     done for good: read-only

**Who moves a ticket where.** Anyone whose role may manage tickets (portal.roles.Cap.MANAGE_TICKETS) may make
the moves TRANSITIONS allows, whatever their role; everything else is refused with the sentence below, and
nothing is changed. Escalated is special: a ticket becomes escalated only by escalating it (an Escalation with
its reason, the escalations' own service) and leaves it only when a manager resolves that escalation, so the
status field never moves into or out of it by hand.

**Reply clock (response targets).** A ticket's first reply is due RESPONSE_TARGET_HOURS[priority] after it was
opened (`Ticket.due_at`). The clock stops for good at the first of:
    - the first public reply (`Ticket.first_response_at`): internal notes do not count;
    - the ticket moving to pending (waiting on customer): the team answered by other means and the next move is
      the customer's;
    - the ticket being solved or closed.
A stopped clock is `due_at = NULL`, so "no reply due" is one indexed fact. While the clock runs, a priority
change re-aims it at created_at + the new target (as a help desk's SLA does). Reopening a ticket does not restart
it: the target measures the first response only. Escalating does not stop it: the customer still waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

OPEN, PENDING, ESCALATED, SOLVED, CLOSED = "open", "pending", "escalated", "solved", "closed"
STATUSES = (OPEN, PENDING, ESCALATED, SOLVED, CLOSED)
PRIORITIES = ("urgent", "high", "normal", "low")  # most urgent first: the queues' order

ESCALATE_INSTEAD = "Escalate the ticket instead: escalating records why and brings in a manager."
MANAGER_RESOLVES = "A manager resolves the escalation; resolving it reopens the ticket."
CLOSED_FOR_GOOD = "This ticket is closed and cannot change any more; open a new ticket instead."


@dataclass(frozen=True)
class Move:
    """One (from, to) pair: allowed or not, and the sentence that says so (shown on the page and in the API)."""

    allowed: bool
    sentence: str


def _allow(sentence: str) -> Move:
    return Move(True, sentence)


def _refuse(sentence: str) -> Move:
    return Move(False, sentence)


# Every (from, to) pair with a different status. The same status is refused by `move` ("already …").
TRANSITIONS: dict[tuple[str, str], Move] = {
    (OPEN, PENDING): _allow("Waiting on the customer: the reply clock stops."),
    (OPEN, SOLVED): _allow("Solved: the customer can still reply and reopen it."),
    (OPEN, CLOSED): _refuse("Solve the ticket before closing it."),
    (OPEN, ESCALATED): _refuse(ESCALATE_INSTEAD),
    (PENDING, OPEN): _allow("Back to open: the team owes the customer an answer."),
    (PENDING, SOLVED): _allow("Solved: the customer can still reply and reopen it."),
    (PENDING, CLOSED): _refuse("Solve the ticket before closing it."),
    (PENDING, ESCALATED): _refuse(ESCALATE_INSTEAD),
    (ESCALATED, OPEN): _refuse(MANAGER_RESOLVES),
    (ESCALATED, PENDING): _refuse(MANAGER_RESOLVES),
    (ESCALATED, SOLVED): _refuse(MANAGER_RESOLVES),
    (ESCALATED, CLOSED): _refuse(MANAGER_RESOLVES),
    (SOLVED, OPEN): _allow("Reopened: the team owes the customer an answer again."),
    (SOLVED, CLOSED): _allow("Closed for good: the ticket can no longer change."),
    (SOLVED, PENDING): _refuse("Reopen the ticket before waiting on the customer."),
    (SOLVED, ESCALATED): _refuse(ESCALATE_INSTEAD),
    (CLOSED, OPEN): _refuse(CLOSED_FOR_GOOD),
    (CLOSED, PENDING): _refuse(CLOSED_FOR_GOOD),
    (CLOSED, ESCALATED): _refuse(CLOSED_FOR_GOOD),
    (CLOSED, SOLVED): _refuse(CLOSED_FOR_GOOD),
}

STATUS_LABELS = {OPEN: "open", PENDING: "waiting on the customer", ESCALATED: "escalated", SOLVED: "solved",
                 CLOSED: "closed"}


def move(current: str, target: str) -> Move:
    """May a ticket in `current` be set to `target` by hand? Unknown statuses are refused with a sentence too."""
    if target not in STATUSES:
        return _refuse(f"“{str(target)[:40]}” is not a ticket status; use one of: {', '.join(STATUSES)}.")
    if current == target:
        return _refuse(f"The ticket is already {STATUS_LABELS[target]}.")
    return TRANSITIONS[(current, target)]


def moves_from(current: str) -> list[tuple[str, Move]]:
    """Every other status with its answer, in STATUSES order: what the status control offers or explains."""
    return [(target, move(current, target)) for target in STATUSES if target != current]


def is_read_only(status: str) -> bool:
    """Closed tickets take no comment, assignment or priority change either."""
    return status == CLOSED


# ---- Response targets ------------------------------------------------------------------------------------------

def response_target(priority: str) -> timedelta:
    """How long the first reply may take at this priority (settings.TICKET_RESPONSE_TARGET_HOURS, from the
    environment: TICKET_TARGET_URGENT_HOURS=1, …_HIGH_HOURS=4, …_NORMAL_HOURS=24, …_LOW_HOURS=72)."""
    return timedelta(hours=settings.TICKET_RESPONSE_TARGET_HOURS[priority])


def reply_due_at(*, created_at: datetime, priority: str) -> datetime:
    return created_at + response_target(priority)


def clock_stops(*, status: str, public_reply: bool = False) -> bool:
    """Does this change stop a running reply clock? A public reply, or a move to pending, solved or closed."""
    return public_reply or status in (PENDING, SOLVED, CLOSED)


@dataclass(frozen=True)
class ReplyClock:
    """What a ticket shows about its reply target at `now`: nothing (clock stopped), due in …, or overdue by …"""

    due_at: datetime | None
    now: datetime

    @property
    def running(self) -> bool:
        return self.due_at is not None

    @property
    def overdue(self) -> bool:
        """Overdue from the due instant itself: a reply due at 10:00 is late at 10:00."""
        return self.due_at is not None and self.now >= self.due_at

    @property
    def remaining(self) -> timedelta:
        return (self.due_at - self.now) if self.due_at is not None else timedelta(0)

    @property
    def label(self) -> str:
        if self.due_at is None:
            return ""
        if self.overdue:
            return f"overdue by {duration(self.now - self.due_at)}"
        return f"reply due in {duration(self.due_at - self.now)}"


def duration(delta: timedelta) -> str:
    """Short and rounded down, as agents read it in a queue: 45 min, 3 h 20 min, 2 d 4 h; under a minute: 0 min."""
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"
