"""Roles and what they may do: the one place that says who can do what.

Each capability is a Django permission on `portal.Capability` (a table-less model), and each role is a Django
group that holds a set of them (seeded by a data migration, re-synced by `sync_roles()`). Views and API endpoints
check capabilities with `require_capability` / `api_view(capability=...)`; templates use `perms.portal.<code>`.
"""

from __future__ import annotations

import json
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db import connection


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
    load_roles(user)
    return user.has_perm(f"portal.{capability}")


def _roles_sql(user: str) -> str:
    """One row per permission the user holds directly ('user') or through a group ('group'), and per group
    ('member', id, name). `user` is the SQL for the user's id: a placeholder, or a column of an outer query."""
    User = get_user_model()
    user_perms = User.user_permissions.through._meta.db_table
    user_groups = User.groups.through._meta.db_table
    group_perms = Group.permissions.through._meta.db_table
    perm, content_type = Permission._meta.db_table, "django_content_type"
    perm_name = "ct.app_label || '.' || p.codename"
    return f"""
    SELECT 'user', NULL::integer, {perm_name} FROM {user_perms} up
      JOIN {perm} p ON p.id = up.permission_id JOIN {content_type} ct ON ct.id = p.content_type_id
     WHERE up.user_id = {user}
    UNION ALL
    SELECT 'group', NULL, {perm_name} FROM {user_groups} ug JOIN {group_perms} gp ON gp.group_id = ug.group_id
      JOIN {perm} p ON p.id = gp.permission_id JOIN {content_type} ct ON ct.id = p.content_type_id
     WHERE ug.user_id = {user}
    UNION ALL
    SELECT 'member', g.id, g.name FROM {user_groups} ug JOIN {Group._meta.db_table} g ON g.id = ug.group_id
     WHERE ug.user_id = {user}
    """


@cache
def _roles_of_one_user_sql() -> str:
    return _roles_sql("%(user)s")


@cache
def _user_with_roles_sql() -> str:
    """The user's row, and their roles as a JSON array in one more column (see user_with_roles). Written once as
    SQL: building the ORM query on every request would cost more than running it."""
    User = get_user_model()
    quote = connection.ops.quote_name
    table = quote(User._meta.db_table)
    columns = ", ".join(f"{table}.{quote(field.column)}" for field in User._meta.concrete_fields)
    return (f"SELECT {columns}, (SELECT coalesce(json_agg(json_build_array(r.kind, r.group_id, r.name)), "
            f"'[]'::json)::text FROM ({_roles_sql(f'{table}.id')}) AS r(kind, group_id, name)) AS role_rows "
            f"FROM {table} WHERE {table}.id = %s")


def user_with_roles(user_id):
    """The active or inactive user with this id, its roles loaded in the same query (None if there is none).

    The authentication backend (portal.auth) reads the signed-in user this way, so a request's roles cost no
    query of their own.
    """
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):  # a session from another kind of user model: nobody
        return None
    user = next(iter(get_user_model()._default_manager.raw(_user_with_roles_sql(), [user_id])), None)
    if user is not None:
        _fill_role_caches(user, json.loads(user.role_rows))
        del user.role_rows
    return user


def load_roles(user) -> None:
    """Read the user's groups and permissions in one query instead of three, once per request.

    Django's ModelBackend reads user and group permissions in two queries and caches them on the user object for
    the request (`_user_perm_cache`, `_group_perm_cache`, `_perm_cache`); the sidebar's role name reads
    `user.groups.all()` in a third. This fills the same caches from one plain SQL query; `has_capability` calls it
    for users that were not read by `user_with_roles` (API token users, users built in code). Superusers (who
    hold every permission) and anonymous users are left to Django.
    """
    if not user.is_authenticated or not user.is_active or user.is_superuser or hasattr(user, "_perm_cache"):
        return
    with connection.cursor() as cursor:
        cursor.execute(_roles_of_one_user_sql(), {"user": user.pk})
        rows = cursor.fetchall()
    _fill_role_caches(user, rows)


def _fill_role_caches(user, rows) -> None:
    if user.is_superuser:  # Django answers for superusers without reading permissions
        return
    user._user_perm_cache = {name for kind, _, name in rows if kind == "user"}
    user._group_perm_cache = {name for kind, _, name in rows if kind == "group"}
    user._perm_cache = user._user_perm_cache | user._group_perm_cache
    groups = user.groups.get_queryset()  # lazy: no query; filled below the way prefetch_related fills it
    groups._result_cache = sorted((Group(id=pk, name=name) for kind, pk, name in rows if kind == "member"),
                                  key=lambda group: group.pk)
    groups._prefetch_done = True
    user._prefetched_objects_cache = {**getattr(user, "_prefetched_objects_cache", {}), "groups": groups}


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
