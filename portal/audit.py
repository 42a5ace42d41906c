"""The audit helper every service uses. (Reads of customer data are logged by portal/access_log.py.)"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings

from portal.context import current_request_id, current_source
from portal.models import AuditEvent


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
    that changed; `data` carries anything else worth knowing. The row can never be deleted, so none of them may
    hold a personal value (name, email, phone, address, free text), a secret or a card number: ids, amounts,
    statuses and the *names* of changed fields only (DESIGN §7). Erasure must be able to leave zero copies.
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
    """The before/after pair for the fields whose value actually changes.

    For personal fields, record only the names (`data={"fields": list(after)}`), never this pair.
    """
    before, after = {}, {}
    for name, value in new_values.items():
        old = getattr(instance, name)
        if old != value:
            before[name], after[name] = old, value
    return before, after


def client_ip(request) -> str | None:
    """The address of the client, for the access log and the login lockout (AXES_CLIENT_IP_CALLABLE).

    With TRUSTED_PROXY_COUNT = 0 (no proxy) it is REMOTE_ADDR and X-Forwarded-For is ignored: anyone can send that
    header. Behind N trusted proxies, each appends the address it received from to X-Forwarded-For, so the client
    is the Nth entry from the right; entries further left were written by the client and are not trusted. A header
    with fewer entries (or a malformed one) falls back to REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-proxies]))
    except ValueError:
        return remote

