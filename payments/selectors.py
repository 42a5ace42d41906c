"""Reads for payment documents: the invoice page and its PDF share one query plan (3 queries)."""

from __future__ import annotations

from dataclasses import dataclass

from babel import Locale
from django.db.models import Prefetch, QuerySet

from payments.models import Invoice, Payment, Refund


@dataclass(frozen=True)
class InvoiceDocument:
    """An invoice with the payments made against it and their refunds, and the sums a reader looks for."""

    invoice: Invoice
    payments: list[Payment]

    @property
    def customer(self):
        return self.invoice.customer

    @property
    def country_name(self) -> str:
        return Locale("en").territories.get(self.customer.country, self.customer.country)

    @property
    def amount_paid(self) -> int:
        return sum(p.amount for p in self.payments if p.status in Payment.CAPTURED_STATUSES)

    @property
    def amount_refunded(self) -> int:
        return sum(p.amount_refunded for p in self.payments)

    @property
    def refunds(self) -> list[Refund]:
        return [refund for payment in self.payments for refund in payment.refunds.all()]

    @property
    def has_tax(self) -> bool:
        return self.invoice.tax > 0


def invoices_for_document() -> QuerySet[Invoice]:
    """Pass to `access_invoice`: the invoice with its customer (billing address) and plan in one SELECT."""
    return Invoice.objects.select_related("customer", "customer__storefront", "subscription__plan")


def invoice_document(invoice: Invoice) -> InvoiceDocument:
    payments = (Payment.objects.filter(invoice=invoice).select_related("payment_method")
                .prefetch_related(Prefetch("refunds", queryset=Refund.objects.order_by("created_at", "id")))
                .order_by("created_at", "id"))
    return InvoiceDocument(invoice=invoice, payments=list(payments))
