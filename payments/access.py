"""Load-and-check for payment documents. An invoice is the customer's data: reading it needs the same capability
as reading the customer, checked before the lookup (403 for everyone without it, 404 for an unknown id)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from payments.models import Invoice
from portal.access import check_capability
from portal.roles import Cap


def access_invoice(user, public_id: str, *, queryset: QuerySet[Invoice] | None = None) -> Invoice:
    """An invoice is the customer's data: reading it needs the same capability as reading the customer."""
    check_capability(user, Cap.VIEW_CUSTOMERS)
    invoices = queryset if queryset is not None else Invoice.objects.select_related("customer")
    invoice = invoices.filter(public_id=public_id).first()
    if invoice is None:
        raise Http404("No invoice has this id.")
    return invoice
