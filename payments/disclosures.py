"""What in a template context carries a customer's personal data (see portal/access_log.py)."""

from payments.models import CreditEntry, Invoice, Payment, PaymentMethod, Refund
from payments.selectors import InvoiceDocument
from portal.access_log import customers_in


@customers_in.register(Invoice)  # shows the customer's name and billing address
@customers_in.register(Payment)
@customers_in.register(PaymentMethod)
@customers_in.register(CreditEntry)
def _customer_row(row):
    return (row.customer_id,)


@customers_in.register
def _refund(refund: Refund):
    return (refund.payment.customer_id,)


@customers_in.register
def _invoice_document(document: InvoiceDocument):
    return (document.invoice.customer_id,)
