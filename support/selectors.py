"""Reads for the send-email dialog, the profile's Emails and Tickets tabs, the Tickets page and the support API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.utils import timezone

from customers.models import Customer
from customers.selectors.profile import Cursor, Page, newest_first
from privacy.selectors import has_email_marketing_consent
from support.email_context import TemplateProblem, dedicated_template_problem
from portal.cursors import InvalidCursor, decode_cursor, encode_cursor
from support import rules
from support.models import EmailMessage, EmailTemplate, Ticket, TicketComment
from support.policy import email_refusal


@dataclass(frozen=True)
class TemplateChoice:
    code: str
    name: str
    marketing: bool
    refusal: str | None  # why it cannot be sent to this customer now (None: it can)
    template: EmailTemplate


def email_template_choices(customer: Customer) -> list[TemplateChoice]:
    """Every active template, each with the reason it cannot go to this customer (two queries: the templates and
    the customer's latest email-marketing consent, read only when a marketing template exists)."""
    templates = list(EmailTemplate.objects.filter(active=True).order_by("name"))
    consent = any(t.marketing for t in templates) and has_email_marketing_consent(customer)
    choices = []
    for template in templates:
        refusal = email_refusal(template, customer, marketing_consent=consent)
        if refusal is None:
            try:
                refusal = dedicated_template_problem(template)
            except TemplateProblem as exc:  # a template edited outside the admin form: say so, do not offer it
                refusal = exc.message
        choices.append(TemplateChoice(template.code, template.name, template.marketing, refusal, template))
    return choices


def customer_emails(customer: Customer, *, after: Cursor | None = None) -> Page:
    """The customer's emails, newest first, keyset-paged on the (customer, created_at, id) index."""
    return newest_first(EmailMessage.objects.filter(customer=customer).select_related("template", "created_by"),
                        after=after)


# ---- Tickets ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Queue:
    code: str
    label: str
    description: str


QUEUES = (
    Queue("mine", "Mine", "Open tickets assigned to you"),
    Queue("unassigned", "Unassigned", "Open tickets nobody has taken yet"),
    Queue("escalated", "Escalated", "Tickets a manager is handling"),
    Queue("pending", "Waiting on customer", "Tickets whose next move is the customer's"),
    Queue("open", "All open", "Every ticket that is not solved or closed"),
)
QUEUE_CODES = tuple(queue.code for queue in QUEUES)
DEFAULT_QUEUE = "mine"
QUEUE_PAGE_SIZE = 25
_OPEN = Q(status__in=Ticket.OPEN_STATUSES)


def _queue_filter(code: str, user) -> Q:
    """Which tickets a queue holds. Every queue is a subset of the open tickets (the partial indexes' rows)."""
    return {
        "mine": _OPEN & Q(assignee_id=user.pk),
        "unassigned": _OPEN & Q(assignee__isnull=True),
        "escalated": Q(status=Ticket.Status.ESCALATED),
        "pending": Q(status=Ticket.Status.PENDING),
        "open": _OPEN,
    }[code]


def queue_counts(user) -> dict[str, int]:
    """The live count of every queue, in one query over the open tickets (COUNT … FILTER per queue)."""
    return Ticket.objects.filter(_OPEN).aggregate(
        **{code: Count("id", filter=_queue_filter(code, user)) for code in QUEUE_CODES})


@dataclass(frozen=True)
class TicketRow:
    ticket: Ticket
    clock: rules.ReplyClock


@dataclass(frozen=True)
class QueuePage:
    queue: str
    rows: list[TicketRow]
    next_cursor: str | None
    now: datetime


def _position(ticket, now: datetime) -> list:
    return [_micros(now), int(ticket.overdue_first), ticket.priority_rank, _micros(ticket.created_at), ticket.pk]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _from_micros(value: int) -> datetime:
    return _EPOCH + value * timedelta(microseconds=1)


def _decode_queue_cursor(token: str, queue: str) -> tuple[datetime, int, int, datetime, int]:
    values = decode_cursor(token, salt=f"support.queue.{queue}")
    try:
        if len(values) != 5 or not all(type(v) is int for v in values):
            raise TypeError("not a queue position")
        now, overdue, rank, created, pk = values
        return _from_micros(now), overdue, rank, _from_micros(created), pk
    except (TypeError, OverflowError):
        raise InvalidCursor() from None


def queue_page(user, queue: str, *, cursor: str | None = None, now: datetime | None = None,
               size: int = QUEUE_PAGE_SIZE) -> QueuePage:
    """One page of a queue: overdue tickets first, then by priority (urgent first), then oldest first.

    Keyset-paged on (overdue, priority rank, created_at, id). "Overdue" depends on the time, so the first page's
    `now` travels in the cursor: every page of one walk sorts by the same instant, and no ticket is skipped or
    repeated when one becomes overdue mid-walk. Raises InvalidCursor for a cursor this list did not make.
    """
    now = now or timezone.now()
    tickets = (Ticket.objects.filter(_queue_filter(queue, user))
               .select_related("customer", "assignee")
               .only(*QUEUE_ROW_FIELDS))
    position = None
    if cursor:
        now, *position = _decode_queue_cursor(cursor, queue)
    tickets = tickets.annotate(overdue_first=Case(When(due_at__lte=now, then=Value(0)), default=Value(1),
                                                  output_field=IntegerField()))
    if position:
        overdue, rank, created, pk = position
        tickets = tickets.filter(
            Q(overdue_first__gt=overdue)
            | Q(overdue_first=overdue, priority_rank__gt=rank)
            | Q(overdue_first=overdue, priority_rank=rank, created_at__gt=created)
            | Q(overdue_first=overdue, priority_rank=rank, created_at=created, id__gt=pk))
    rows = list(tickets.order_by("overdue_first", "priority_rank", "created_at", "id")[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = encode_cursor(_position(rows[-1], now), salt=f"support.queue.{queue}")
    return QueuePage(queue=queue, rows=[TicketRow(t, rules.ReplyClock(t.due_at, now)) for t in rows],
                     next_cursor=next_cursor, now=now)


QUEUE_ROW_FIELDS = ("public_id", "customer_id", "subject", "status", "priority", "priority_rank", "assignee_id",
                    "created_at", "due_at", "customer__public_id", "customer__first_name", "customer__last_name",
                    "customer__status", "assignee__username")


def ticket_by_public_id(public_id: str) -> Ticket | None:
    """The ticket with what its page shows beside it: customer, assignee, opener, payment and timeline event."""
    return (Ticket.objects.select_related("customer", "assignee", "created_by", "payment", "activity_event")
            .filter(public_id=public_id).first())


def ticket_conversation(ticket: Ticket) -> list[TicketComment]:
    """Every comment, oldest first (the conversation reads top to bottom, newest last)."""
    comments = list(TicketComment.objects.filter(ticket=ticket).select_related("author", "email")
                    .only("ticket_id", "author__username", "from_customer", "public", "body", "created_at",
                          "email__public_id", "email__status")
                    .order_by("created_at", "id"))
    for comment in comments:
        comment.ticket = ticket  # already loaded: no query per comment for its ticket
    return comments


def customer_tickets(customer: Customer, *, after: Cursor | None = None) -> Page:
    """The customer's tickets, newest first, keyset-paged on the (customer, created_at) index."""
    return newest_first(Ticket.objects.filter(customer=customer).select_related("assignee")
                        .only("customer_id", "public_id", "subject", "status", "priority", "created_at", "due_at",
                              "assignee__username"), after=after)


def assignable_agents() -> list:
    """Active users whose role may work on tickets, by username (the assign control's choices)."""
    from django.contrib.auth import get_user_model

    from portal.roles import Cap

    holds = Q(groups__permissions__codename=Cap.MANAGE_TICKETS, groups__permissions__content_type__app_label="portal")
    holds |= Q(user_permissions__codename=Cap.MANAGE_TICKETS) | Q(is_superuser=True)
    users = get_user_model().objects.filter(holds, is_active=True).distinct()
    return list(users.only("username").order_by("username"))


def activity_tickets(events) -> dict[str, Ticket]:
    """The tickets that timeline events name (payload "ticket"), by public id, in one query: the activity tab links
    each ticket event to its ticket and shows its subject."""
    ids = {event.payload.get("ticket") for event in events if isinstance(event.payload, dict)}
    ids.discard(None)
    if not ids:
        return {}
    return {t.public_id: t for t in Ticket.objects.filter(public_id__in=[str(i) for i in ids])
            .only("public_id", "subject", "status", "customer_id")}
