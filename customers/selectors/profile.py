"""Reads for the customer profile page and its API: a fixed number of queries whatever the history size.

The header is one query: the customer row joined to its storefront, plan and precomputed metrics, with the credit
balance, the live subscription, the tags, the segment memberships, the owner's username and the open escalation
folded in as correlated subqueries. Each tab
is one more query that walks a `(customer_id, created_at DESC, id DESC)` index from a keyset cursor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from babel import Locale
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, OuterRef, QuerySet, Subquery, Value, When
from django.utils.dateparse import parse_datetime

from customers.models import ActivityEvent, Customer, CustomerMetrics, CustomerTag, Note, Storefront, Tag
from payments.models import CreditEntry, Invoice, Payment
from portal.cursors import decode_time_position, newest_first_rows
from portal.models import Approval
from segments.models import Segment, SegmentMembership
from subscriptions.models import Plan, Subscription
from support.models import Escalation, Ticket

TABS = ("subscriptions", "payments", "tickets", "activity", "notes", "emails")
DEFAULT_TAB = TABS[0]
PAGE_SIZE = 20
TAG_SUGGESTIONS = 20
REGION_NAMES = Locale("en").territories


# ---- Keyset cursors -------------------------------------------------------------------------------------------

CURSOR_SALT = "customers.profile"  # one salt for the tabs: each walks the same (created_at, id) keyset


@dataclass(frozen=True)
class Cursor:
    """The position after the last row shown: rows strictly older than (created_at, id) come next.

    In URLs a kernel time position (portal/cursors.py encode_time_position): [microseconds since the epoch, id].
    """

    created_at: datetime
    id: int

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Raises InvalidCursor for anything that is not a cursor this module made."""
        return cls(*decode_time_position(value, salt=CURSOR_SALT))


@dataclass(frozen=True)
class Page:
    rows: list
    next_cursor: str | None


def newest_first(queryset: QuerySet, *, after: Cursor | None, size: int = PAGE_SIZE) -> Page:
    """One page of a tab, newest first, keyset-paginated on (created_at, id) (portal.cursors.newest_first_rows)."""
    rows, next_cursor = newest_first_rows(queryset, after=(after.created_at, after.id) if after else None,
                                          size=size, salt=CURSOR_SALT)
    return Page(rows, next_cursor)


# ---- Header ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveSubscription:
    public_id: str
    status: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    trial_end: datetime | None
    # In grace: the unpaid invoice's next dunning retry (None: no retry until the card changes).
    next_retry_at: datetime | None = None

    @property
    def status_label(self) -> str:
        return Subscription.Status(self.status).label


@dataclass(frozen=True)
class SegmentBadge:
    code: str
    name: str
    reason: str
    since: datetime | None


@dataclass(frozen=True)
class OpenEscalation:
    """The customer's oldest open escalation, for the header's marker (the note stays on the Escalations page)."""

    public_id: str
    reason: str
    raised_at: datetime
    raised_by: str | None
    ticket: str | None

    @property
    def reason_label(self) -> str:
        return Escalation.Reason(self.reason).label


@dataclass
class ProfileOverview:
    """Everything the always-visible header shows, built from the one header query without further reads."""

    customer: Customer
    metrics: CustomerMetrics
    credit_balance: int
    live_subscription: LiveSubscription | None
    tags: list[str] = field(default_factory=list)
    segments: list[SegmentBadge] = field(default_factory=list)
    owner_username: str | None = None
    escalation: OpenEscalation | None = None

    @property
    def region_name(self) -> str:
        return REGION_NAMES.get(self.customer.country, self.customer.country)

    @property
    def address(self) -> str:
        """One line: street, second line, postal code and city, country."""
        c = self.customer
        town = " ".join(part for part in (c.postal_code, c.city) if part)
        return ", ".join(part for part in (c.address_line1, c.address_line2, town) if part)


def _columns(model, alias: str) -> tuple[list[str], str]:
    """The model's concrete columns as (attribute names for Model.from_db, SQL select list)."""
    fields = model._meta.concrete_fields
    return [f.attname for f in fields], ", ".join(f'{alias}."{f.column}"' for f in fields)


_CUSTOMER_NAMES, _CUSTOMER_COLUMNS = _columns(Customer, "c")
_STOREFRONT_NAMES, _STOREFRONT_COLUMNS = _columns(Storefront, "sf")
_PLAN_NAMES, _PLAN_COLUMNS = _columns(Plan, "pl")
_METRICS_NAMES, _METRICS_COLUMNS = _columns(CustomerMetrics, "m")
User = get_user_model()

# Written by hand because it is the hottest read of the portal: built with the ORM (select_related, four correlated
# subqueries, JSON objects) it costs ~8 ms of Python per request just to compile on the 2-vCPU reference machine,
# five times what Postgres needs to run it. Column lists come from the models; rows are hydrated with Model.from_db.
_PROFILE_SQL = f"""
SELECT {_CUSTOMER_COLUMNS}, {_STOREFRONT_COLUMNS}, {_PLAN_COLUMNS}, {_METRICS_COLUMNS},
  COALESCE((SELECT SUM(CASE WHEN e.kind = %(grant)s THEN e.amount ELSE -e.amount END)
            FROM {CreditEntry._meta.db_table} e WHERE e.customer_id = c.id), 0)::bigint,
  (SELECT json_build_object('public_id', s.public_id, 'status', s.status,
                            'current_period_end', s.current_period_end,
                            'cancel_at_period_end', s.cancel_at_period_end, 'trial_end', s.trial_end,
                            -- only in grace: the dunning schedule's next retry of the unpaid invoice
                            'next_retry_at', CASE WHEN s.status = 'grace' THEN
                              (SELECT min(i.next_retry_at) FROM {Invoice._meta.db_table} i
                                WHERE i.subscription_id = s.id AND i.status = 'open') END)
     FROM {Subscription._meta.db_table} s
    WHERE s.customer_id = c.id AND s.status = ANY(%(live)s) ORDER BY s.started_at DESC LIMIT 1),
  ARRAY(SELECT t.name FROM {CustomerTag._meta.db_table} ct JOIN {Tag._meta.db_table} t ON t.id = ct.tag_id
         WHERE ct.customer_id = c.id ORDER BY t.name),
  ARRAY(SELECT json_build_object('code', g.code, 'name', g.name, 'reason', sm.reason, 'since', sm.since)
          FROM {SegmentMembership._meta.db_table} sm JOIN {Segment._meta.db_table} g ON g.id = sm.segment_id
         WHERE sm.customer_id = c.id ORDER BY g.name),
  (SELECT u.username FROM {User._meta.db_table} u WHERE u.id = c.owner_id),
  -- escalated_at is kept by the escalation services: customers without an open one skip the lookup
  CASE WHEN c.escalated_at IS NOT NULL THEN
    (SELECT json_build_object('public_id', e.public_id, 'reason', e.reason, 'raised_at', e.raised_at,
                              'raised_by', ru.username, 'ticket', t.public_id)
       FROM {Escalation._meta.db_table} e
       LEFT JOIN {User._meta.db_table} ru ON ru.id = e.raised_by_id
       LEFT JOIN {Ticket._meta.db_table} t ON t.id = e.ticket_id
      WHERE e.customer_id = c.id AND e.status = 'open' ORDER BY e.raised_at, e.id LIMIT 1)
  END
FROM {Customer._meta.db_table} c
JOIN {Storefront._meta.db_table} sf ON sf.id = c.storefront_id
LEFT JOIN {Plan._meta.db_table} pl ON pl.id = c.plan_id
LEFT JOIN {CustomerMetrics._meta.db_table} m ON m.customer_id = c.id
WHERE c.public_id = %(public_id)s
"""


def _when(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def _take(row: tuple, start: int, names: list[str]) -> tuple[tuple, int]:
    end = start + len(names)
    return row[start:end], end


def profile_overview(public_id: str) -> ProfileOverview | None:
    """The header of one customer's profile in one query (None: no such customer). Use `access_customer_profile`."""
    with connection.cursor() as cursor:
        cursor.execute(_PROFILE_SQL, {"public_id": public_id, "grant": CreditEntry.Kind.GRANT,
                                      "live": list(Subscription.LIVE_STATUSES)})
        row = cursor.fetchone()
    if row is None:
        return None
    values, at = _take(row, 0, _CUSTOMER_NAMES)
    customer = Customer.from_db(connection.alias, _CUSTOMER_NAMES, values)
    values, at = _take(row, at, _STOREFRONT_NAMES)
    customer.storefront = Storefront.from_db(connection.alias, _STOREFRONT_NAMES, values)
    values, at = _take(row, at, _PLAN_NAMES)
    customer.plan = Plan.from_db(connection.alias, _PLAN_NAMES, values) if values[0] is not None else None
    values, at = _take(row, at, _METRICS_NAMES)
    # No metrics row yet (a new customer before the nightly job): zeros, and computed_at None says so.
    metrics = (CustomerMetrics.from_db(connection.alias, _METRICS_NAMES, values) if values[0] is not None
               else CustomerMetrics(customer_id=customer.pk))
    credit_balance, live, tags, segments, owner_username, escalation = row[at:]
    return ProfileOverview(
        customer=customer,
        metrics=metrics,
        credit_balance=credit_balance,
        live_subscription=LiveSubscription(
            public_id=live["public_id"], status=live["status"], current_period_end=_when(live["current_period_end"]),
            cancel_at_period_end=live["cancel_at_period_end"], trial_end=_when(live["trial_end"]),
            next_retry_at=_when(live["next_retry_at"]),
        ) if live else None,
        tags=list(tags),
        segments=[SegmentBadge(code=s["code"], name=s["name"], reason=s["reason"], since=_when(s["since"]))
                  for s in segments],
        owner_username=owner_username,
        escalation=OpenEscalation(
            public_id=escalation["public_id"], reason=escalation["reason"], raised_at=_when(escalation["raised_at"]),
            raised_by=escalation["raised_by"], ticket=escalation["ticket"],
        ) if escalation else None,
    )


# ---- Tabs ------------------------------------------------------------------------------------------------------

def customer_subscriptions(customer: Customer) -> list[Subscription]:
    """Every subscription, the live one first, then the most recently started; each with the dunning schedule of
    its unpaid invoice (`payment_failed_at`, `next_retry_at`: None when there is none, or no retry is planned)."""
    live_first = Case(When(status__in=Subscription.LIVE_STATUSES, then=Value(0)), default=Value(1))
    unpaid = (Invoice.objects.filter(subscription=OuterRef("pk"), status=Invoice.Status.OPEN,
                                     payment_failed_at__isnull=False).order_by("payment_failed_at"))
    return list(Subscription.objects.filter(customer=customer)
                .select_related("plan", "scheduled_plan", "payment_method")
                .annotate(payment_failed_at=Subquery(unpaid.values("payment_failed_at")[:1]),
                          next_retry_at=Subquery(unpaid.values("next_retry_at")[:1]))
                .order_by(live_first, "-started_at", "-id"))


# The tab queries load only the columns the tab shows: building fewer and narrower model instances is a
# measurable part of the page's time (the invoice's JSON lines and the actor's password hash are never needed).
PAYMENT_ROW_FIELDS = ("public_id", "customer_id", "amount", "amount_refunded", "amount_refund_pending", "currency",
                      "status", "failure_code", "failure_message", "decline_type", "disputed", "gateway", "created_at",
                      "payment_method__kind", "payment_method__brand", "payment_method__last4",
                      "invoice__public_id", "invoice__number", "invoice__status")
ACTIVITY_ROW_FIELDS = ("customer_id", "created_at", "kind", "action", "source", "summary", "payload", "actor__username")


def customer_payments(customer: Customer, *, after: Cursor | None = None, size: int = PAGE_SIZE) -> Page:
    payments = (Payment.objects.filter(customer=customer).select_related("payment_method", "invoice")
                .only(*PAYMENT_ROW_FIELDS))
    return newest_first(payments, after=after, size=size)


def customer_activity(customer: Customer, *, kind: str = "", after: Cursor | None = None,
                      size: int = PAGE_SIZE) -> Page:
    events = ActivityEvent.objects.filter(customer=customer).select_related("actor").only(*ACTIVITY_ROW_FIELDS)
    if kind:
        events = events.filter(kind=kind)
    page = newest_first(events, after=after, size=size)
    _attach_details(page.rows)
    return page


# Timeline events whose words live in the row they name (the timeline and the audit keep only its id, so erasure
# has one place to clear): action → (payload key, model, field shown).
DETAIL_SOURCES = {
    "escalation.raised": ("escalation", Escalation, "note"),
    "escalation.resolved": ("escalation", Escalation, "resolution_note"),
    "approval.requested": ("approval", Approval, "note"),
    "approval.approved": ("approval", Approval, "comment"),
    "approval.rejected": ("approval", Approval, "comment"),
    "approval.failed": ("approval", Approval, "comment"),
}


def _attach_details(events: list[ActivityEvent]) -> None:
    """Escalation and approval events show the note or comment from their row as `event.detail`: one query per
    kind of row on the page, none without such events."""
    wanted: dict[type, set[str]] = {}
    for event in events:
        if (source := DETAIL_SOURCES.get(event.action)) and (public_id := event.payload.get(source[0])):
            wanted.setdefault(source[1], set()).add(public_id)
    rows = {}
    for model, public_ids in wanted.items():
        fields = sorted({field for _, source_model, field in DETAIL_SOURCES.values() if source_model is model})
        rows.update({(model, row["public_id"]): row
                     for row in model.objects.filter(public_id__in=public_ids).values("public_id", *fields)})
    for event in events:
        if (source := DETAIL_SOURCES.get(event.action)) and (
                row := rows.get((source[1], event.payload.get(source[0])))):
            event.detail = row[source[2]]


def customer_notes(customer: Customer, *, after: Cursor | None = None, size: int = PAGE_SIZE) -> Page:
    notes = Note.objects.filter(customer=customer).select_related("author").only(
        "customer_id", "body", "created_at", "author__username")
    return newest_first(notes, after=after, size=size)


def customer_tag_names(customer: Customer) -> list[str]:
    return list(CustomerTag.objects.filter(customer=customer).order_by("tag__name").values_list("tag__name", flat=True))


def tag_suggestions(customer: Customer, *, text: str = "", limit: int = TAG_SUGGESTIONS) -> list[str]:
    """Existing tag names containing `text` (already normalised) that this customer does not have yet."""
    tags = Tag.objects.exclude(customer_tags__customer=customer)
    if text:
        tags = tags.filter(name__contains=text)
    return list(tags.order_by("name").values_list("name", flat=True)[:limit])

