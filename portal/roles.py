"""Roles and what they may do: the one place that says who can do what.

Each capability is a Django permission on `portal.Capability` (a table-less model), and each role is a Django
group that holds a set of them (seeded by a data migration, re-synced by `sync_roles()`). Views and API endpoints
check capabilities with `require_capability` / `api_view(capability=...)`; templates use `perms.portal.<code>`.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group, Permission


class Cap:
    VIEW_CUSTOMERS = "view_customers"
    EDIT_CUSTOMERS = "edit_customers"  # profile edits, notes, tags
    MANAGE_SUBSCRIPTIONS = "manage_subscriptions"
    REFUND_PAYMENTS = "refund_payments"  # under the agent's limit and the refund window
    RETRY_PAYMENTS = "retry_payments"
    ISSUE_CREDIT = "issue_credit"
    CONTACT_CUSTOMERS = "contact_customers"  # emails, payment-method links
    MANAGE_TICKETS = "manage_tickets"  # open, comment, escalate
    BULK_ACTIONS = "bulk_actions"
    REQUEST_PRIVACY = "request_privacy"  # data export / erasure requests
    APPROVE_REQUESTS = "approve_requests"
    RESOLVE_ESCALATIONS = "resolve_escalations"
    VIEW_AUDIT = "view_audit"
    RECOMPUTE_SEGMENTS = "recompute_segments"
    CONFIGURE = "configure"  # windows, limits, templates, users, API tokens of others


CAPABILITIES: dict[str, str] = {
    Cap.VIEW_CUSTOMERS: "Find and read customers",
    Cap.EDIT_CUSTOMERS: "Edit customer profiles, notes and tags",
    Cap.MANAGE_SUBSCRIPTIONS: "Change, pause, resume and cancel subscriptions",
    Cap.REFUND_PAYMENTS: "Refund payments within limits",
    Cap.RETRY_PAYMENTS: "Retry failed payments",
    Cap.ISSUE_CREDIT: "Add account credit within limits",
    Cap.CONTACT_CUSTOMERS: "Email customers",
    Cap.MANAGE_TICKETS: "Open, update and escalate tickets",
    Cap.BULK_ACTIONS: "Run bulk actions up to the row limit",
    Cap.REQUEST_PRIVACY: "Request data exports and erasure",
    Cap.APPROVE_REQUESTS: "Approve or reject requests of others",
    Cap.RESOLVE_ESCALATIONS: "Resolve escalations",
    Cap.VIEW_AUDIT: "Read the audit and access logs",
    Cap.RECOMPUTE_SEGMENTS: "Recompute segments on demand",
    Cap.CONFIGURE: "Configure the portal",
}

AGENT = "Agent"
MANAGER = "Manager"
ADMIN = "Admin"

_AGENT_CAPS = [
    Cap.VIEW_CUSTOMERS, Cap.EDIT_CUSTOMERS, Cap.MANAGE_SUBSCRIPTIONS, Cap.REFUND_PAYMENTS, Cap.RETRY_PAYMENTS,
    Cap.ISSUE_CREDIT, Cap.CONTACT_CUSTOMERS, Cap.MANAGE_TICKETS, Cap.BULK_ACTIONS, Cap.REQUEST_PRIVACY,
]
_MANAGER_CAPS = [*_AGENT_CAPS, Cap.APPROVE_REQUESTS, Cap.RESOLVE_ESCALATIONS, Cap.VIEW_AUDIT, Cap.RECOMPUTE_SEGMENTS]
ROLE_CAPABILITIES: dict[str, list[str]] = {
    AGENT: _AGENT_CAPS,
    MANAGER: _MANAGER_CAPS,
    ADMIN: [*_MANAGER_CAPS, Cap.CONFIGURE],
}


def has_capability(user, capability: str) -> bool:
    if user is None or isinstance(user, AnonymousUser) or not user.is_active:
        return False
    return user.has_perm(f"portal.{capability}")


def role_of(user) -> str | None:
    """The highest role the user holds (Admin > Manager > Agent), for display."""
    names = {g.name for g in user.groups.all()}
    for role in (ADMIN, MANAGER, AGENT):
        if role in names:
            return role
    return "Admin" if user.is_superuser else None


def sync_roles(group_model=Group, permission_model=Permission, content_type=None) -> None:
    """Create the three groups and give each exactly its capabilities. Safe to run repeatedly."""
    from django.contrib.contenttypes.models import ContentType

    if content_type is None:
        content_type, _ = ContentType.objects.get_or_create(app_label="portal", model="capability")
    permissions = {}
    for code, label in CAPABILITIES.items():
        perm, _ = permission_model.objects.get_or_create(
            codename=code, content_type=content_type, defaults={"name": label}
        )
        permissions[code] = perm
    for role, caps in ROLE_CAPABILITIES.items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set([permissions[c] for c in caps])
