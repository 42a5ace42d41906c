"""Load helpers: every customer is fetched through these (invoices: payments/access.py).

The view's one capability declaration (portal/access.py) has already answered 403 for a user without the right
role, before any lookup, so nobody learns which ids exist; these answer 404 for an unknown id.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from customers.models import Customer
from customers.selectors.profile import ProfileOverview, profile_overview
from portal.access import granted


def access_customer(request, public_id: str, *, queryset: QuerySet[Customer] | None = None) -> Customer:
    """The customer with this public id (404 if there is none). `queryset` lets a caller join what it needs."""
    granted(request)
    customers = queryset if queryset is not None else Customer.objects.all()
    customer = customers.filter(public_id=public_id).first()
    if customer is None:
        raise Http404("No customer has this id.")
    return customer


def access_customer_profile(request, public_id: str) -> ProfileOverview:
    """The profile header of this customer (the customer with its figures, tags and segments), 404 as above."""
    granted(request)
    overview = profile_overview(public_id)
    if overview is None:
        raise Http404("No customer has this id.")
    return overview
