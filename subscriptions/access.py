"""Load helper for subscriptions: the view's capability declaration (portal/access.py) already answered 403 for
a user without it, before any lookup; this answers 404 for an unknown id."""

from __future__ import annotations

from django.http import Http404

from portal.access import granted
from subscriptions.models import Subscription


def access_subscription(request, public_id: str) -> Subscription:
    """The subscription with this public id, with its customer and plans (404 if there is none)."""
    granted(request)
    subscription = (Subscription.objects.select_related("customer", "plan", "scheduled_plan")
                    .filter(public_id=public_id).first())
    if subscription is None:
        raise Http404("No subscription has this id.")
    return subscription
