"""Rows made through the ORM before the bulk load: storefronts, plans, tags and the demo users."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group

from customers.models import Storefront, Tag
from portal import roles
from demo.seed import catalog
from subscriptions.models import Plan

# username -> (first name, last name, role); the usernames and password come from settings.PORTAL.
DEMO_USERS = {
    "agent": ("Alex", "Agent", roles.AGENT),
    "manager": ("Morgan", "Manager", roles.MANAGER),
    "admin": ("Ada", "Admin", roles.ADMIN),
}


def create_catalog() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Create (or update, matched by code or name) the storefronts, plans and tags; return their ids."""
    storefronts = Storefront.objects.bulk_create(
        [Storefront(code=s.code, name=s.name, kind=s.kind, refund_window_days=s.refund_window_days)
         for s in catalog.STOREFRONTS],
        update_conflicts=True, unique_fields=["code"], update_fields=["name", "kind", "refund_window_days"],
    )
    plans = Plan.objects.bulk_create(
        [Plan(code=p.code, name=p.name, description=p.description, features=list(p.tier.features), price=p.price,
              currency=p.currency, interval=p.interval, trial_days=p.trial_days, rank=p.tier.rank, is_active=True,
              refund_window_days=catalog.YEARLY_REFUND_WINDOW_DAYS if p.interval == "year" else None)
         for p in catalog.PLANS],
        update_conflicts=True, unique_fields=["code"],
        update_fields=["name", "description", "features", "price", "currency", "interval", "trial_days", "rank",
                       "is_active", "refund_window_days"],
    )
    tags = Tag.objects.bulk_create([Tag(name=name) for name in catalog.TAGS],
                                   update_conflicts=True, unique_fields=["name"], update_fields=["name"])
    return ({s.code: s.id for s in storefronts}, {p.code: p.id for p in plans}, {t.name: t.id for t in tags})


def ensure_demo_users() -> dict[str, int]:
    """Create or reset the demo users (password from settings), each in its role's group; return their ids.

    The admin is also staff and superuser, so the Django admin works for it.
    """
    roles.sync_roles()
    user_model = get_user_model()
    # One hash for the three: the password is published anyway, and each hash costs ~1 s by design.
    password = make_password(settings.PORTAL["DEMO_PASSWORD"])
    ids = {}
    for username in settings.PORTAL["DEMO_USERNAMES"]:
        first_name, last_name, role = DEMO_USERS[username]
        user, _ = user_model.objects.get_or_create(username=username)
        user.first_name, user.last_name, user.email = first_name, last_name, f"{username}@example.com"
        user.is_staff = user.is_superuser = role == roles.ADMIN
        user.is_active = True
        user.password = password
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        ids[username] = user.id
    return ids
