"""Who can own a customer: active users whose role lets them work on customers (agents, managers, admins).

One query over the users' groups and their capabilities (portal/roles.py); the directory keeps the result among
its shared lookups (customers/selectors/directory/lookups.py) for the owner filter and the header's select.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from portal.roles import Cap

OWNER_CAPABILITY = Cap.EDIT_CUSTOMERS  # owning a customer means working on them: notes, tags, profile


@dataclass(frozen=True)
class OwnerChoice:
    id: int
    username: str


def assignable_owners() -> list[OwnerChoice]:
    users = (get_user_model().objects.filter(is_active=True, groups__permissions__codename=OWNER_CAPABILITY,
                                             groups__permissions__content_type__app_label="portal")
             .order_by("username").values_list("id", "username").distinct())
    return [OwnerChoice(pk, username) for pk, username in users]


def assignable_owner(user_id: int) -> OwnerChoice | None:
    """The user with this id if they can own customers (checked at write time, not from a cached list)."""
    users = (get_user_model().objects.filter(pk=user_id, is_active=True,
                                             groups__permissions__codename=OWNER_CAPABILITY,
                                             groups__permissions__content_type__app_label="portal")
             .values_list("id", "username")[:1])
    return next((OwnerChoice(pk, username) for pk, username in users), None)
