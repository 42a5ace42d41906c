"""Load helpers for payment documents. An invoice is the customer's data: its views declare the same capability
as reading the customer (portal/access.py: 403 before any lookup); these answer 404 for an unknown id."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from payments.models import Invoice, Payment
from portal.access import granted


def access_invoice(request, public_id: str, *, queryset: QuerySet[Invoice] | None = None) -> Invoice:
    """The invoice with this public id (404 if there is none)."""
    granted(request)
    invoices = queryset if queryset is not None else Invoice.objects.select_related("customer")
    invoice = invoices.filter(public_id=public_id).first()
    if invoice is None:
        raise Http404("No invoice has this id.")
    return invoice


def payments_for_actions() -> QuerySet[Payment]:
    """A payment with what the refund and retry rules read: its customer and storefront, method, invoice, plan."""
    return Payment.objects.select_related("customer__storefront", "payment_method", "invoice__subscription__plan")


def access_payment(request, public_id: str, *, queryset: QuerySet[Payment] | None = None) -> Payment:
    """The payment with this public id (404 if there is none)."""
    granted(request)
    payments = queryset if queryset is not None else payments_for_actions()
    payment = payments.filter(public_id=public_id).first()
    if payment is None:
        raise Http404("No payment has this id.")
    return payment
