"""The audit helper every service uses, and the access-log helper every customer read uses."""

from __future__ import annotations

from typing import Any

from portal.context import current_request_id, current_source
from portal.models import AccessLog, AuditEvent


def _actor_label(actor) -> str:
    return actor.get_username() if actor is not None and actor.is_authenticated else ""


def audit_record(
    *,
    actor,
    action: str,
    customer=None,
    obj=None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit row. Call it inside the service's transaction, so the row exists exactly when the change does.

    `obj` is the changed object (its `public_id` is used when it has one); `before`/`after` hold only the fields
    that changed; `data` carries anything else worth knowing. Never put secrets or card numbers in any of them.
    """
    object_type = obj._meta.label_lower if obj is not None else ""
    object_id = str(getattr(obj, "public_id", None) or getattr(obj, "pk", "") or "") if obj is not None else ""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=_actor_label(actor),
        source=current_source(),
        action=action,
        object_type=object_type,
        object_id=object_id,
        customer=customer,
        before=before or {},
        after=after or {},
        data=data or {},
        request_id=current_request_id(),
    )


def changed_fields(instance, new_values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The before/after pair for the fields whose value actually changes."""
    before, after = {}, {}
    for name, value in new_values.items():
        old = getattr(instance, name)
        if old != value:
            before[name], after[name] = old, value
    return before, after


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def access_log_record(*, request, customer, view: str) -> None:
    """One INSERT per read of a customer's data (who, which customer, which view, when, from where)."""
    AccessLog.objects.create(
        user=request.user if request.user.is_authenticated else None,
        customer=customer,
        view=view,
        ip_address=client_ip(request),
        request_id=current_request_id(),
    )
