"""Kernel reads: the audit log viewer (changes) and the access log viewer (who read which customer's data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from customers.models import Customer
from portal.cursors import InvalidCursor, decode_cursor, decode_time_position, encode_cursor, newest_first_rows
from portal.models import AccessLog, AuditEvent

AUDIT_PAGE_SIZE = 50
AUDIT_CURSOR_SALT = "portal.audit"
ACCESS_PAGE_SIZE = 50
ACCESS_CURSOR_SALT = "portal.access"


def audit_events(*, action_prefix: str = "", customer_public_id: str = "", actor: str = "",
                 before: str | None = None) -> tuple[list[AuditEvent], str | None]:
    """Newest first, keyset-paged on id; returns the page and the cursor of the next one (a kernel cursor of
    [the last id shown]). Raises InvalidCursor for a cursor this function did not make. Only the customer's
    public id is read with each row: the page shows no personal data (and so writes no access-log row)."""
    qs: QuerySet[AuditEvent] = (AuditEvent.objects.select_related("customer")
                                .defer(*_customer_columns_except("public_id")).order_by("-id"))
    if action_prefix:
        qs = qs.filter(action__startswith=action_prefix)
    if customer_public_id:
        qs = qs.filter(customer__public_id=customer_public_id)
    if actor:
        qs = qs.filter(actor_label=actor)
    if before:
        qs = qs.filter(id__lt=_decode_position(before))
    rows = list(qs[: AUDIT_PAGE_SIZE + 1])
    next_cursor = (encode_cursor([rows[AUDIT_PAGE_SIZE - 1].id], salt=AUDIT_CURSOR_SALT)
                   if len(rows) > AUDIT_PAGE_SIZE else None)
    return rows[:AUDIT_PAGE_SIZE], next_cursor


def _decode_position(token: str) -> int:
    values = decode_cursor(token, salt=AUDIT_CURSOR_SALT)
    if len(values) != 1 or type(values[0]) is not int:
        raise InvalidCursor()
    return values[0]


def _customer_columns_except(*kept: str) -> list[str]:
    return [f"customer__{f.name}" for f in Customer._meta.concrete_fields if not f.primary_key and f.name not in kept]


# ---- Access log ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AccessPage:
    rows: list[AccessLog]
    next_cursor: str | None


def access_log_entries(*, customer_public_id: str = "", username: str = "", since: date | None = None,
                       until: date | None = None, after: str | None = None) -> AccessPage:
    """Who read which customer's data, newest first, keyset-paged on (created_at, id).

    The customer and the user are resolved to their keys first, so each filter walks its own index:
    (customer_id, created_at DESC, id DESC), (user_id, created_at DESC, id DESC), or (created_at DESC, id DESC)
    without either; the date range bounds that walk. Dates are whole days in the portal's time zone (TIME_ZONE),
    `until` included. Raises InvalidCursor for a cursor this function did not make."""
    qs: QuerySet[AccessLog] = AccessLog.objects.all()
    if customer_public_id:
        customer_id = Customer.objects.filter(public_id=customer_public_id).values_list("id", flat=True).first()
        if customer_id is None:
            return AccessPage([], None)
        qs = qs.filter(customer_id=customer_id)
    if username:
        user_id = get_user_model().objects.filter(username=username).values_list("id", flat=True).first()
        if user_id is None:
            return AccessPage([], None)
        qs = qs.filter(user_id=user_id)
    if since:
        qs = qs.filter(created_at__gte=_start_of(since))
    if until:
        qs = qs.filter(created_at__lt=_start_of(until + timedelta(days=1)))
    position = decode_time_position(after, salt=ACCESS_CURSOR_SALT) if after else None
    # Only what the page shows: the customer's public id, never a personal value.
    qs = qs.select_related("user", "customer").only("created_at", "view", "ip_address", "request_id",
                                                     "user__username", "customer__public_id")
    return AccessPage(*newest_first_rows(qs, after=position, size=ACCESS_PAGE_SIZE, salt=ACCESS_CURSOR_SALT))


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
