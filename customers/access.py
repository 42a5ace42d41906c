"""Load-and-check helpers: every customer (and customer document) is fetched through these.

The capability is checked before the lookup, so a user without the right role learns nothing about which ids
exist (403 for everyone), and a user with it gets 404 for an unknown id.
"""

from __future__ import annotations

from functools import cache, wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404

from customers.models import Customer
from customers.selectors.profile import ProfileOverview, profile_overview
from payments.models import Invoice
from portal.access import require_capability
from portal.roles import Cap, has_capability


@cache
def _roles_sql() -> str:
    User = get_user_model()
    user_perms = User.user_permissions.through._meta.db_table
    user_groups = User.groups.through._meta.db_table
    group_perms = Group.permissions.through._meta.db_table
    perm, content_type = Permission._meta.db_table, ContentType._meta.db_table
    perm_name = f"ct.app_label || '.' || p.codename"
    return f"""
    SELECT 'user', NULL::integer, {perm_name} FROM {user_perms} up
      JOIN {perm} p ON p.id = up.permission_id JOIN {content_type} ct ON ct.id = p.content_type_id
     WHERE up.user_id = %(user)s
    UNION ALL
    SELECT 'group', NULL, {perm_name} FROM {user_groups} ug JOIN {group_perms} gp ON gp.group_id = ug.group_id
      JOIN {perm} p ON p.id = gp.permission_id JOIN {content_type} ct ON ct.id = p.content_type_id
     WHERE ug.user_id = %(user)s
    UNION ALL
    SELECT 'member', g.id, g.name FROM {user_groups} ug JOIN {Group._meta.db_table} g ON g.id = ug.group_id
     WHERE ug.user_id = %(user)s
    """


def load_roles(user) -> None:
    """Read the user's groups and permissions in one query instead of three.

    Django's ModelBackend reads user and group permissions in two queries and caches them on the user object for
    the request (`_user_perm_cache`, `_group_perm_cache`, `_perm_cache`); the sidebar's role name reads
    `user.groups.all()` in a third. This fills the same caches from one plain SQL query, so the profile page stays
    within its query budget. Superusers (who hold every permission) and anonymous users are left to Django.
    """
    if not user.is_authenticated or not user.is_active or user.is_superuser or hasattr(user, "_perm_cache"):
        return
    with connection.cursor() as cursor:
        cursor.execute(_roles_sql(), {"user": user.pk})
        rows = cursor.fetchall()
    user._user_perm_cache = {name for kind, _, name in rows if kind == "user"}
    user._group_perm_cache = {name for kind, _, name in rows if kind == "group"}
    user._perm_cache = user._user_perm_cache | user._group_perm_cache
    groups = user.groups.get_queryset()  # lazy: no query; filled below the way prefetch_related fills it
    groups._result_cache = sorted((Group(id=pk, name=name) for kind, pk, name in rows if kind == "member"),
                                  key=lambda group: group.pk)
    groups._prefetch_done = True
    user._prefetched_objects_cache = {**getattr(user, "_prefetched_objects_cache", {}), "groups": groups}


def customer_view(capability: str):
    """View decorator for customer pages: the kernel's `require_capability`, with the roles loaded in one query."""

    def decorator(view):
        checked = require_capability(capability)(view)

        @wraps(checked)
        def wrapped(request, *args, **kwargs):
            load_roles(request.user)
            return checked(request, *args, **kwargs)

        wrapped.required_capability = capability
        return wrapped

    return decorator


def _require(user, capability: str) -> None:
    if not has_capability(user, capability):
        raise PermissionDenied(f"Your role does not allow this ({capability}).")


def access_customer(user, public_id: str, *, capability: str = Cap.VIEW_CUSTOMERS,
                    queryset: QuerySet[Customer] | None = None) -> Customer:
    """The customer with this public id, if `user` holds `capability`: 403 otherwise, 404 if there is none.

    `queryset` lets a caller join what it needs up front.
    """
    _require(user, capability)
    customers = queryset if queryset is not None else Customer.objects.all()
    customer = customers.filter(public_id=public_id).first()
    if customer is None:
        raise Http404("No customer has this id.")
    return customer


def access_customer_profile(user, public_id: str, *, capability: str = Cap.VIEW_CUSTOMERS) -> ProfileOverview:
    """The profile header of this customer (the customer with its figures, tags and segments): 403 / 404 as above."""
    _require(user, capability)
    overview = profile_overview(public_id)
    if overview is None:
        raise Http404("No customer has this id.")
    return overview


def access_invoice(user, public_id: str, *, queryset: QuerySet[Invoice] | None = None) -> Invoice:
    """An invoice is the customer's data: reading it needs the same capability as reading the customer."""
    _require(user, Cap.VIEW_CUSTOMERS)
    invoices = queryset if queryset is not None else Invoice.objects.select_related("customer")
    invoice = invoices.filter(public_id=public_id).first()
    if invoice is None:
        raise Http404("No invoice has this id.")
    return invoice
