"""Kernel reads: the audit log viewer."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.models import AuditEvent

AUDIT_PAGE_SIZE = 50


def audit_events(*, action_prefix: str = "", customer_public_id: str = "", actor: str = "",
                 before_id: int | None = None) -> tuple[list[AuditEvent], int | None]:
    """Newest first, keyset-paged on id; returns the page and the cursor of the next one."""
    qs: QuerySet[AuditEvent] = AuditEvent.objects.select_related("customer").order_by("-id")
    if action_prefix:
        qs = qs.filter(action__startswith=action_prefix)
    if customer_public_id:
        qs = qs.filter(customer__public_id=customer_public_id)
    if actor:
        qs = qs.filter(actor_label=actor)
    if before_id:
        qs = qs.filter(id__lt=before_id)
    rows = list(qs[: AUDIT_PAGE_SIZE + 1])
    next_cursor = rows[AUDIT_PAGE_SIZE - 1].id if len(rows) > AUDIT_PAGE_SIZE else None
    return rows[:AUDIT_PAGE_SIZE], next_cursor
