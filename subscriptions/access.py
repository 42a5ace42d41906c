"""Load helper for subscriptions: the view's capability is declared once (portal/access.py: 403 before any lookup);
this answers 404 for an unknown id."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from portal.access import granted
from subscriptions.models import Subscription


def subscriptions_for_actions() -> QuerySet[Subscription]:
    """A subscription with what the actions and their JSON read: customer, plan, scheduled plan, method."""
    return Subscription.objects.select_related("customer", "plan", "scheduled_plan", "payment_method")


def access_subscription(request, public_id: str, *, queryset: QuerySet[Subscription] | None = None) -> Subscription:
    """The subscription with this public id (404 if there is none)."""
    granted(request)
    subscriptions = queryset if queryset is not None else subscriptions_for_actions()
    subscription = subscriptions.filter(public_id=public_id).first()
    if subscription is None:
        raise Http404("No subscription has this id.")
    return subscription
