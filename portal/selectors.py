"""Kernel reads: the audit log viewer."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.cursors import InvalidCursor, decode_cursor, encode_cursor
from portal.models import AuditEvent

AUDIT_PAGE_SIZE = 50
AUDIT_CURSOR_SALT = "portal.audit"


def audit_events(*, action_prefix: str = "", customer_public_id: str = "", actor: str = "",
                 before: str | None = None) -> tuple[list[AuditEvent], str | None]:
    """Newest first, keyset-paged on id; returns the page and the cursor of the next one (a kernel cursor of
    [the last id shown]). Raises InvalidCursor for a cursor this function did not make."""
    qs: QuerySet[AuditEvent] = AuditEvent.objects.select_related("customer").order_by("-id")
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
