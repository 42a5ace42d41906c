"""Reads behind the Escalations queue (the page and the API): a fixed number of queries whatever the page size.

One query for the page of escalations (with customer, ticket and the users joined), one for the newest payments
and one for the newest tickets of all the page's customers (a window per customer, served by the
`(customer_id, created_at DESC, …)` indexes), and a count of the open ones. Keyset pages on (raised_at, id),
oldest first, for the open queue; (resolved_at, id), newest first, for the resolved list.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from payments.models import Payment
from portal.cursors import decode_time_position, encode_time_position
from support.models import Escalation, Ticket

PAGE_SIZE = 25
RECENT_PAYMENTS = 3
RECENT_TICKETS = 3
COUNT_CAP = 1000
CURSOR_SALT = "support.escalations"
STATUSES = tuple(Escalation.Status.values)

CUSTOMER_FIELDS = ("customer__public_id", "customer__first_name", "customer__last_name", "customer__email",
                   "customer__status", "customer__mrr", "customer__currency", "customer__escalated_at",
                   "customer__subscription_state")


@dataclass
class EscalationPanel:
    """One escalation with the customer's recent payments and tickets (the queue's compact panel)."""

    escalation: Escalation
    payments: list[Payment] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)

    @property
    def age(self):
        return timezone.now() - self.escalation.raised_at


@dataclass
class EscalationQueue:
    status: str
    panels: list[EscalationPanel]
    next_cursor: str | None
    count: int
    count_capped: bool


def _time_column(status: str) -> str:
    return "raised_at" if status == Escalation.Status.OPEN else "resolved_at"


def decode_cursor(token: str) -> tuple[datetime, int]:
    """Raises InvalidCursor for a cursor this module did not make."""
    return decode_time_position(token, salt=CURSOR_SALT)


def escalation_queue(*, status: str = Escalation.Status.OPEN, after: tuple[datetime, int] | None = None,
                     size: int = PAGE_SIZE) -> EscalationQueue:
    column = _time_column(status)
    escalations = (Escalation.objects.filter(status=status)
                   .select_related("customer", "ticket", "raised_by", "resolved_by")
                   .only("public_id", "customer_id", "ticket_id", "reason", "note", "status", "raised_at",
                         "resolved_at", "resolution_note", "raised_by__username", "resolved_by__username",
                         "ticket__public_id", "ticket__subject", "ticket__status", *CUSTOMER_FIELDS))
    if status == Escalation.Status.OPEN:  # oldest first: the longest waiting are looked at first
        escalations = escalations.order_by(column, "id")
        if after is not None:
            escalations = escalations.filter(Q(**{f"{column}__gt": after[0]})
                                             | Q(**{column: after[0], "id__gt": after[1]}))
    else:  # the most recently resolved first
        escalations = escalations.order_by(f"-{column}", "-id")
        if after is not None:
            escalations = escalations.filter(Q(**{f"{column}__lt": after[0]})
                                             | Q(**{column: after[0], "id__lt": after[1]}))
    rows = list(escalations[: size + 1])
    next_cursor = (encode_time_position(getattr(rows[size - 1], column), rows[size - 1].pk, salt=CURSOR_SALT)
                   if len(rows) > size else None)
    rows = rows[:size]
    panels = escalation_panels(rows)
    count = Escalation.objects.filter(status=status).order_by()[: COUNT_CAP + 1].count()
    return EscalationQueue(status=status, panels=panels, next_cursor=next_cursor, count=min(count, COUNT_CAP),
                           count_capped=count > COUNT_CAP)


def _newest_per_customer(queryset, customer_ids: list[int], size: int) -> dict[int, list]:
    """The `size` newest rows of each customer, in one query (a row number per customer, filtered)."""
    if not customer_ids:
        return {}
    rows = (queryset.filter(customer_id__in=customer_ids)
            .annotate(position=Window(RowNumber(), partition_by=[F("customer_id")],
                                      order_by=[F("created_at").desc(), F("id").desc()]))
            .filter(position__lte=size).order_by("customer_id", "position"))
    by_customer = defaultdict(list)
    for row in rows:
        by_customer[row.customer_id].append(row)
    return by_customer


def escalation_panels(escalations: list[Escalation]) -> list[EscalationPanel]:
    """Each escalation with its customer's newest payments and tickets: two queries for any number."""
    customer_ids = sorted({e.customer_id for e in escalations})
    payments = _newest_per_customer(
        Payment.objects.only("public_id", "customer_id", "amount", "amount_refunded", "currency", "status",
                             "created_at"), customer_ids, RECENT_PAYMENTS)
    tickets = _newest_per_customer(
        Ticket.objects.only("public_id", "customer_id", "subject", "status", "created_at"), customer_ids,
        RECENT_TICKETS)
    return [EscalationPanel(e, payments.get(e.customer_id, []), tickets.get(e.customer_id, []))
            for e in escalations]


def escalation_by_public_id(public_id: str) -> Escalation | None:
    return (Escalation.objects.select_related("customer", "ticket", "raised_by", "resolved_by")
            .filter(public_id=public_id).first())


def open_escalation_of(customer) -> Escalation | None:
    """The customer's oldest open escalation (customer-level or a ticket's), for the profile header."""
    if customer.escalated_at is None:  # kept by the services: no open escalation, no query
        return None
    return (Escalation.objects.filter(customer_id=customer.pk, status=Escalation.Status.OPEN)
            .select_related("raised_by", "ticket").order_by("raised_at", "id").first())
