"""The one call every service makes to record a change: the audit row and, when the change concerns a customer,
their timeline event, together, in the caller's transaction. (Reads of customer data are logged by
portal/access_log.py.)"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.utils import timezone

from portal.context import current_request_id, current_source
from portal.models import AuditEvent


def _actor_label(actor) -> str:
    return actor.get_username() if actor is not None and actor.is_authenticated else ""


@dataclass(frozen=True)
class Timeline:
    """What the customer's timeline says about a change: its kind (customers.ActivityEvent.Kind), the sentence an
    agent reads, and ids worth linking to. The timeline is erasable with the customer, but keep raw personal values
    out of it all the same: "Profile updated: Email", not the address."""

    kind: str
    summary: str
    payload: dict[str, Any] = field(default_factory=dict)


def audit_record(
    *,
    actor,
    action: str,
    customer=None,
    obj=None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    timeline: Timeline | None = None,
) -> AuditEvent:
    """Record one change. Call it inside the service's transaction, so the records exist exactly when the change does.

    Writes the audit row and, with `timeline` (and a `customer`), the customer's timeline event, whose action is
    the audit action without its app prefix (`customers.note.added` → `note.added`) and whose source (agent, api,
    bulk, …) is the entry point's, like the audit row's.

    `obj` is the changed object (its `public_id` is used when it has one); `before`/`after` hold only the fields
    that changed; `data` carries anything else worth knowing. The row can never be deleted, so none of them may
    hold a personal value (name, email, phone, address, free text), a secret or a card number: ids, amounts,
    statuses and the *names* of changed fields only. Erasure must be able to leave zero copies.
    """
    if timeline is not None:
        if customer is None:
            raise ValueError("A timeline event needs the customer whose timeline it is on.")
        _timeline_event(customer=customer, actor=actor, action=action.split(".", 1)[-1], timeline=timeline)
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


def _timeline_event(*, customer, actor, action: str, timeline: Timeline):
    ActivityEvent = apps.get_model("customers", "ActivityEvent")  # noqa: N806 (a model class)
    summary_length = ActivityEvent._meta.get_field("summary").max_length
    return ActivityEvent.objects.create(
        customer=customer, created_at=timezone.now(), kind=timeline.kind, action=action, source=current_source(),
        actor=actor if actor is not None and actor.is_authenticated else None,
        summary=timeline.summary[:summary_length], payload=timeline.payload,
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

