"""Load-and-check helpers: every customer is fetched through these (invoices: payments/access.py).

The capability is checked before the lookup, so a user without the right role learns nothing about which ids
exist (403 for everyone), and a user with it gets 404 for an unknown id.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from customers.models import Customer
from customers.selectors.profile import ProfileOverview, profile_overview
from portal.access import check_capability
from portal.roles import Cap


def access_customer(user, public_id: str, *, capability: str = Cap.VIEW_CUSTOMERS,
                    queryset: QuerySet[Customer] | None = None) -> Customer:
    """The customer with this public id, if `user` holds `capability`: 403 otherwise, 404 if there is none.

    `queryset` lets a caller join what it needs up front.
    """
    check_capability(user, capability)
    customers = queryset if queryset is not None else Customer.objects.all()
    customer = customers.filter(public_id=public_id).first()
    if customer is None:
        raise Http404("No customer has this id.")
    return customer


def access_customer_profile(user, public_id: str, *, capability: str = Cap.VIEW_CUSTOMERS) -> ProfileOverview:
    """The profile header of this customer (the customer with its figures, tags and segments): 403 / 404 as above."""
    check_capability(user, capability)
    overview = profile_overview(public_id)
    if overview is None:
        raise Http404("No customer has this id.")
    return overview
