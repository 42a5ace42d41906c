"""The invoice page and its PDF."""

from __future__ import annotations

import re
import zlib

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.models import Payment, Refund
from portal.models import AccessLog
from tests.factories import CustomerFactory, InvoiceFactory, PaymentFactory, PaymentMethodFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(db):
    customer = CustomerFactory(first_name="Alan", last_name="Turing", address_line1="1 Bletchley Park",
                               city="Milton Keynes", postal_code="MK3 6EB", country="GB")
    invoice = InvoiceFactory(customer=customer, number="INV-2026-004217", subtotal=2000, tax=400, total=2400,
                             credit_applied=300,
                             lines=[{"description": "Pro Monthly, November", "quantity": 1, "unit_amount": 2000,
                                     "amount": 2000}])
    card = PaymentMethodFactory(customer=customer, brand="mastercard", last4="5454")
    failed = PaymentFactory(customer=customer, invoice=invoice, amount=2100, status=Payment.Status.FAILED,
                            payment_method=card, failure_message="Insufficient funds",
                            created_at=timezone.now() - timezone.timedelta(days=2))
    paid = PaymentFactory(customer=customer, invoice=invoice, amount=2100, amount_refunded=500,
                          status=Payment.Status.PARTIALLY_REFUNDED, payment_method=card)
    Refund.objects.create(payment=paid, amount=500, currency="USD", status="succeeded", reason="Service outage",
                          created_at=timezone.now())
    assert failed and paid
    return invoice


def invoice_url(invoice, pdf=False):
    return reverse("payments:invoice_pdf" if pdf else "payments:invoice", kwargs={"public_id": invoice.public_id})


def test_invoice_page_shows_lines_tax_payments_and_refunds(agent, client_for, invoice):
    response = client_for(agent).get(invoice_url(invoice))
    assert response.status_code == 200
    page = response.content.decode()
    for expected in ("INV-2026-004217", "Alan Turing", "1 Bletchley Park", "Pro Monthly, November",
                     "Subtotal", "$20.00", "Tax", "$4.00", "Total", "$24.00", "Account credit applied", "−$3.00",
                     "Amount due after credit", "$21.00", "Mastercard •••• 5454", "Failed", "Insufficient funds",
                     "Partially refunded", "Service outage", "−$5.00", invoice_url(invoice, pdf=True)):
        assert expected in page, expected
    assert AccessLog.objects.get().view == "payments:invoice"


def test_invoice_without_tax_has_no_tax_row(agent, client_for):
    invoice = InvoiceFactory(tax=0)
    page = client_for(agent).get(invoice_url(invoice)).content.decode()
    assert ">Tax<" not in page and "No payment has been made against this invoice." in page


def _pdf_strings(pdf: bytes) -> bytes:
    """The PDF's bytes with every Flate stream inflated (WeasyPrint compresses text and object streams)."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            pass
    return b"\n".join(parts)


def test_invoice_pdf_is_a_real_pdf_with_the_invoice_number(agent, client_for, invoice):
    response = client_for(agent).get(invoice_url(invoice, pdf=True))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="INV-2026-004217.pdf"'
    pdf = response.content
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    # The invoice number is the document's heading, which WeasyPrint also writes as the PDF outline entry.
    assert b"(Invoice INV-2026-004217)" in _pdf_strings(pdf)
    assert AccessLog.objects.get().view == "payments:invoice_pdf"


def test_unknown_invoice_is_404(agent, client_for):
    assert client_for(agent).get("/invoices/inv_nothere/").status_code == 404
    assert client_for(agent).get("/invoices/inv_nothere/pdf").status_code == 404


def test_invoices_need_a_role(outsider, client_for, invoice):
    assert client_for(outsider).get(invoice_url(invoice)).status_code == 403
    assert client_for(outsider).get(invoice_url(invoice, pdf=True)).status_code == 403
    assert not AccessLog.objects.exists()


def test_invoice_reads_a_fixed_number_of_queries(agent, client_for, invoice, django_assert_max_num_queries):
    for _ in range(20):
        PaymentFactory(customer=invoice.customer, invoice=invoice, status=Payment.Status.FAILED)
    client = client_for(agent)
    with django_assert_max_num_queries(10):
        assert client.get(invoice_url(invoice)).status_code == 200
