"""The one place a subscription's state is written: agent actions (services.py) and billing events (billing.py)
both come here, so every change is checked against the table (transitions.py), recorded once (audit row and
timeline event) and followed by the customer's derived state (status, plan, MRR) in the same transaction.

Callers lock first, in the order customer → subscription (→ invoice → payment for money), and pass the locked row.
"""

from __future__ import annotations

from typing import Any

from customers.models import ActivityEvent
from customers.services import customer_refresh_derived_state
from portal.audit import Timeline, audit_record
from subscriptions.models import Subscription
from subscriptions.transitions import STATES


def subscription_record(subscription: Subscription, *, actor, action: str, summary: str,
                        changes: dict[str, Any] | None = None, data: dict[str, Any] | None = None) -> Subscription:
    """Apply `changes` (field → value, `status` included when it moves) to the locked `subscription`, save them,
    recompute the customer's derived state and record `action` (`subscriptions.subscription.<verb>`) with the
    timeline `summary`. Changes that change nothing are not written (and `status` must be a known state)."""
    changes = {name: value for name, value in (changes or {}).items() if getattr(subscription, name) != value}
    if "status" in changes and changes["status"] not in STATES:
        raise ValueError(f"Unknown subscription state {changes['status']!r}")
    before = {name: _plain(getattr(subscription, name)) for name in changes}
    for name, value in changes.items():
        setattr(subscription, name, value)
    if changes:
        subscription.save(update_fields=[*changes, "updated_at"])
    customer = subscription.customer
    customer_refresh_derived_state(customer)
    audit_record(actor=actor, action=f"subscriptions.subscription.{action}", customer=customer, obj=subscription,
                 before=before, after={name: _plain(value) for name, value in changes.items()},
                 data={"subscription": subscription.public_id, **(data or {})},
                 timeline=Timeline(ActivityEvent.Kind.SUBSCRIPTION, summary,
                                   {"subscription": subscription.public_id}))
    return subscription


def _plain(value):
    """Audit rows hold ids and plain values: a plan as its code, times as ISO text."""
    if hasattr(value, "code"):
        return value.code
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "pk"):
        return value.pk
    return value

