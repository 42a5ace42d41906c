"""Reads behind the Approvals page and API: a fixed number of queries whatever the page size.

One query for the page of requests (customer and users joined, only the columns shown), one capped count. Three
orders, each served by an index of portal.Approval: the pending queue oldest first on (requested_at, id); the
decided list newest decision first on (decided_at, id); a requester's own requests newest first on (requested_at,
id). Each row's kind label and one-line description come from the registered kind (portal/approvals.py) and read
the row alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from portal import approvals
from portal.cursors import decode_time_position, encode_time_position
from portal.models import Approval
from portal.money import format_money

PAGE_SIZE = 25
COUNT_CAP = 1000
BADGE_CAP = 99
ORDERS = ("oldest", "newest", "decided")  # pending queue, a requester's own, the decided list
_COLUMN = {"oldest": "requested_at", "newest": "requested_at", "decided": "decided_at"}

_FIELDS = ("public_id", "kind", "payload", "target", "amount", "currency", "reason", "note", "verdict", "status",
           "requested_at", "expires_at", "decided_at", "comment", "failure_message", "result", "customer",
           "requested_by", "decided_by", "customer__public_id", "customer__first_name", "customer__last_name",
           "customer__status", "requested_by__username", "decided_by__username")


@dataclass
class ApprovalRow:
    """One request as the list shows it."""

    approval: Approval
    kind: approvals.ApprovalKind | None

    @property
    def kind_label(self) -> str:
        return self.kind.label if self.kind else self.approval.kind

    @property
    def description(self) -> str:
        return approvals.describe(self.approval)

    @property
    def amount_label(self) -> str:
        """The amount, for a list that scans by it; empty without one, or when the description says it already."""
        if self.approval.amount is None or not self.approval.currency:
            return ""
        money = format_money(self.approval.amount, self.approval.currency)
        return "" if money in self.description else money

    @property
    def reason_label(self) -> str:
        return approvals.reason_label(self.approval.reason, self.kind)

    @property
    def sudo(self) -> bool:
        return bool(self.kind and self.kind.sudo)

    @property
    def overdue(self) -> bool:
        """Pending but past its expiry: deciding it now expires it (the sweep runs every few minutes)."""
        return self.approval.is_pending and self.approval.is_past_expiry

    @property
    def expires_soon(self) -> bool:
        return self.approval.is_pending and (self.approval.expires_at - timezone.now()).total_seconds() < 6 * 3600


@dataclass
class ApprovalPage:
    order: str
    rows: list[ApprovalRow]
    next_cursor: str | None
    count: int
    count_capped: bool


def _salt(order: str) -> str:
    return f"portal.approvals.{order}"


def decode_cursor(token: str, *, order: str) -> tuple[datetime, int]:
    """Raises InvalidCursor for a cursor this module did not make for this order."""
    return decode_time_position(token, salt=_salt(order))


def approval_rows(approvals_: list[Approval]) -> list[ApprovalRow]:
    return [ApprovalRow(approval, approvals.kind_for(approval.kind)) for approval in approvals_]


def _base():
    return Approval.objects.select_related("customer", "requested_by", "decided_by").only(*_FIELDS)


def approval_page(*, order: str, statuses: tuple[str, ...] = (), requested_by=None,
                  after: tuple[datetime, int] | None = None, size: int = PAGE_SIZE) -> ApprovalPage:
    """A page of requests in `order` ("oldest": the pending queue; "newest": a requester's own; "decided": most
    recent decision first), optionally of some statuses and of one requester; `after` a decoded cursor."""
    if order not in ORDERS:
        raise ValueError(order)
    column = _COLUMN[order]
    found = Approval.objects.all()
    if statuses:
        found = found.filter(status__in=statuses)
    if requested_by is not None:
        found = found.filter(requested_by=requested_by)
    if order == "decided":
        found = found.filter(decided_at__isnull=False)
    rows = found.select_related("customer", "requested_by", "decided_by").only(*_FIELDS)
    if order == "oldest":
        rows = rows.order_by(column, "id")
        if after is not None:
            rows = rows.filter(**{f"{column}__gte": after[0]}).filter(
                Q(**{f"{column}__gt": after[0]}) | Q(id__gt=after[1]))
    else:
        rows = rows.order_by(f"-{column}", "-id")
        if after is not None:
            rows = rows.filter(**{f"{column}__lte": after[0]}).filter(
                Q(**{f"{column}__lt": after[0]}) | Q(id__lt=after[1]))
    page = list(rows[: size + 1])
    next_cursor = None
    if len(page) > size:
        last = page[size - 1]
        next_cursor = encode_time_position(getattr(last, column), last.pk, salt=_salt(order))
        page = page[:size]
    count = found.order_by()[: COUNT_CAP + 1].count()
    return ApprovalPage(order=order, rows=approval_rows(page), next_cursor=next_cursor, count=min(count, COUNT_CAP),
                        count_capped=count > COUNT_CAP)


def approval_by_public_id(public_id: str) -> Approval | None:
    return _base().filter(public_id=public_id).first()


def waiting_for(user) -> int:
    """How many pending, unexpired requests `user` may decide (not their own), up to BADGE_CAP + 1: the sidebar
    badge. One COUNT over the pending rows of the approval_queue index."""
    return (Approval.objects.filter(status=Approval.Status.PENDING, expires_at__gt=timezone.now())
            .exclude(requested_by=user).order_by()[: BADGE_CAP + 1].count())
