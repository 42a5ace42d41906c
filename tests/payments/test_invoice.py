"""The invoice page and its PDF: figures, statuses, dates, access and queries."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.models import Invoice, Payment, Refund
from portal.models import AccessLog
from tests.factories import CustomerFactory, InvoiceFactory, PaymentFactory, PaymentMethodFactory

pytestmark = pytest.mark.django_db

ISSUED = datetime(2025, 6, 1, 0, 30, tzinfo=dt_timezone.utc)  # just after midnight UTC: 31 May in the Americas
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"


def invoice_url(invoice, pdf=False):
    return reverse("payments:invoice_pdf" if pdf else "payments:invoice", kwargs={"public_id": invoice.public_id})


def pdf_text(pdf: bytes) -> str:
    """The text a reader of the PDF sees: pypdf (a dev dependency), or poppler's pdftotext where pypdf is missing."""
    try:
        from pypdf import PdfReader
    except ImportError:
        if not shutil.which("pdftotext"):
            pytest.skip("neither pypdf nor pdftotext is installed")
        result = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
        return result.stdout.decode()
    return "\n".join(page.extract_text(extraction_mode="layout") for page in PdfReader(io.BytesIO(pdf)).pages)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def page_text(response) -> str:
    """The page's visible text, roughly: tags removed and spaces collapsed."""
    return flat(re.sub(r"<[^>]+>", " ", response.content.decode()))


def _document(client, invoice) -> tuple[str, str]:
    page = client.get(invoice_url(invoice))
    pdf = client.get(invoice_url(invoice, pdf=True))
    assert page.status_code == 200 and pdf.status_code == 200
    return page_text(page), flat(pdf_text(pdf.content))


@pytest.fixture
def customer(db):
    return CustomerFactory(first_name="Alan", last_name="Turing", address_line1="1 Bletchley Park",
                           city="Milton Keynes", postal_code="MK3 6EB", country="GB")


@pytest.fixture
def card(customer):
    return PaymentMethodFactory(customer=customer, brand="mastercard", last4="5454")


@pytest.fixture
def invoice(customer, card):
    """Paid after one failed attempt: $20 + $4 tax, $3 of credit, $21 captured and $5 of it refunded."""
    invoice = InvoiceFactory(customer=customer, number="INV-2026-004217", subtotal=2000, tax=400, total=2400,
                             credit_applied=300, issued_at=ISSUED, due_at=ISSUED, paid_at=ISSUED + timedelta(days=2),
                             period_start=ISSUED, period_end=datetime(2025, 7, 1, 0, 30, tzinfo=dt_timezone.utc),
                             lines=[{"description": "Pro Monthly", "quantity": 1, "unit_amount": 2000,
                                     "amount": 2000}])
    PaymentFactory(customer=customer, invoice=invoice, amount=2100, status=Payment.Status.FAILED,
                   payment_method=card, failure_message="Insufficient funds", decline_type="soft",
                   created_at=ISSUED)
    paid = PaymentFactory(customer=customer, invoice=invoice, amount=2100, amount_refunded=500, attempt=2,
                          status=Payment.Status.PARTIALLY_REFUNDED, payment_method=card,
                          created_at=ISSUED + timedelta(days=2))
    Refund.objects.create(payment=paid, amount=500, currency="USD", status="succeeded", reason="Service outage",
                          created_at=datetime(2025, 6, 10, 12, tzinfo=dt_timezone.utc))
    return invoice


@pytest.fixture
def open_invoice(customer, card):
    """Open: $24 total, $3 of credit, one declined attempt: $21 due on 15 June 2025."""
    invoice = InvoiceFactory(customer=customer, status=Invoice.Status.OPEN, subtotal=2000, tax=400,
                             credit_applied=300, issued_at=ISSUED, due_at=datetime(2025, 6, 15, tzinfo=dt_timezone.utc))
    PaymentFactory(customer=customer, invoice=invoice, amount=2100, status=Payment.Status.FAILED, payment_method=card,
                   failure_code="card_declined", failure_message="The card was declined.", decline_type="hard",
                   created_at=ISSUED)
    return invoice


def test_a_paid_invoice_reads_like_a_paid_invoice(agent, client_for, invoice):
    page, pdf = _document(client_for(agent), invoice)
    for text in (page, pdf):
        assert "Amount due" not in text and "Date due" not in text
        for expected in ("INV-2026-004217", "Alan Turing", "1 Bletchley Park", "Pro Monthly",
                         "Subtotal $20.00", "Tax $4.00", "Total $24.00", "Credit applied −$3.00",
                         "Amount paid $21.00", "Net paid $16.00", "Partially refunded",
                         "Paid with Mastercard •••• 5454, after $3.00 of account credit",
                         "$5.00 has been refunded", "Insufficient funds", "Attempt 2"):
            assert expected in text, expected
    assert "Paid $21.00 on 3 June 2025" in pdf
    assert "Refunded 10 June 2025 −$5.00" in pdf
    assert "Service outage" in page and "Service outage" not in pdf  # the agent's reason stays on the screen


def test_the_page_links_the_pdf_and_logs_the_read(agent, client_for, invoice):
    response = client_for(agent).get(invoice_url(invoice))
    assert invoice_url(invoice, pdf=True) in response.content.decode()
    assert AccessLog.objects.get().view == "payments:invoice"


def test_an_open_invoice_shows_the_amount_due_and_its_date(agent, client_for, open_invoice):
    page, pdf = _document(client_for(agent), open_invoice)
    for text in (page, pdf):
        assert "Amount due $21.00" in text
        assert "Credit applied −$3.00" in text
        assert "Amount paid" not in text and "Date paid" not in text
        assert "failed: The card was declined." in text
    assert "$21.00 due 15 June 2025" in pdf and "Date due 15 June 2025" in pdf
    assert "Hard decline" in page


def test_an_open_invoice_with_a_payment_in_flight_says_it_is_processing(agent, client_for, open_invoice, card):
    PaymentFactory(customer=open_invoice.customer, invoice=open_invoice, amount=2100, payment_method=card,
                   status=Payment.Status.PENDING, created_at=ISSUED + timedelta(days=1))
    page, pdf = _document(client_for(agent), open_invoice)
    for text in (page, pdf):
        assert "A payment of $21.00 is processing." in text and "Pending" in text and "Amount due $21.00" in text


def test_a_partly_paid_open_invoice_is_due_the_rest(agent, client_for, open_invoice, card):
    PaymentFactory(customer=open_invoice.customer, invoice=open_invoice, amount=1000, payment_method=card,
                   status=Payment.Status.SUCCEEDED, created_at=ISSUED + timedelta(days=1))
    page, pdf = _document(client_for(agent), open_invoice)
    for text in (page, pdf):
        assert "Partially paid" in text and "Amount paid $10.00" in text and "Amount due $11.00" in text


@pytest.mark.parametrize("status, headline, sentence", [
    ("draft", "Draft", "Not issued yet; nothing is due"),
    ("void", "Void", "This invoice was cancelled; nothing is due."),
    ("uncollectible", "Uncollectible", "$24.00 was not paid and has been written off"),
])
def test_every_status_without_money_due_says_so(agent, client_for, customer, status, headline, sentence):
    invoice = InvoiceFactory(customer=customer, status=status, subtotal=2000, tax=400, issued_at=ISSUED,
                             due_at=ISSUED)
    page, pdf = _document(client_for(agent), invoice)
    for text in (page, pdf):
        assert headline in text and sentence in text
        assert "Amount due" not in text and "Date due" not in text and "Date paid" not in text


def test_every_status_the_model_defines_has_a_test():
    assert set(Invoice.Status.values) == {"draft", "open", "paid", "void", "uncollectible"}


def test_a_fully_refunded_invoice_reads_refunded(agent, client_for, customer, card):
    invoice = InvoiceFactory(customer=customer, subtotal=1500, issued_at=ISSUED, paid_at=ISSUED)
    payment = PaymentFactory(customer=customer, invoice=invoice, amount=1500, amount_refunded=1500,
                             status=Payment.Status.REFUNDED, payment_method=card, created_at=ISSUED)
    Refund.objects.create(payment=payment, amount=1500, currency="USD", status="failed",
                          created_at=ISSUED + timedelta(days=1))
    Refund.objects.create(payment=payment, amount=1500, currency="USD", status="succeeded",
                          created_at=ISSUED + timedelta(days=2))
    page, pdf = _document(client_for(agent), invoice)
    for text in (page, pdf):
        assert "Status Refunded" in text and "Net paid $0.00" in text and "Amount due" not in text
        assert "Refund failed to the original method" in text  # listed under the payment, not counted
    assert "Refunded 3 June 2025 −$15.00" in pdf  # the failed refund is not a "Refunded" line: net paid is $0


def test_an_invoice_paid_by_credit_alone_says_so(agent, client_for, customer):
    invoice = InvoiceFactory(customer=customer, subtotal=1500, credit_applied=1500, issued_at=ISSUED,
                             paid_at=ISSUED)
    page, pdf = _document(client_for(agent), invoice)
    assert "Paid on 1 June 2025" in pdf
    for text in (page, pdf):
        assert "Paid in full with account credit." in text and "Credit applied −$15.00" in text
        assert "Amount due" not in text and "No payment has been made against this invoice." in text


def test_a_line_can_carry_its_own_period(agent, client_for, customer):
    invoice = InvoiceFactory(customer=customer, subtotal=1000, issued_at=ISSUED, period_start=ISSUED,
                             lines=[{"description": "Seats added", "quantity": 2, "unit_amount": 500, "amount": 1000,
                                     "period_start": "2025-06-10", "period_end": "2025-07-01"}])
    _, pdf = _document(client_for(agent), invoice)
    assert "Seats added" in pdf and "10 June 2025 – 1 July 2025" in pdf and "2 $5.00 $10.00" in pdf


def test_money_is_formatted_in_the_invoice_currency(agent, client_for, customer):
    invoice = InvoiceFactory(customer=customer, currency="EUR", status=Invoice.Status.OPEN, subtotal=123456,
                             tax=0, lines=[{"description": "Team yearly", "quantity": 2, "unit_amount": 61728,
                                            "amount": 123456}])
    page, pdf = _document(client_for(agent), invoice)
    for text in (page, pdf):
        assert "€617.28" in text and "Amount due €1,234.56" in text
        assert "123456" not in text and "61728" not in text


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Pacific/Auckland"])
def test_the_pdf_prints_the_invoices_own_dates_in_one_format(agent, client_for, invoice, settings, zone):
    settings.TIME_ZONE = zone  # the server's zone never moves a printed date
    text = flat(pdf_text(client_for(agent).get(invoice_url(invoice, pdf=True)).content))
    assert "Date of issue 1 June 2025" in text
    assert "1 June 2025 – 1 July 2025" in text  # the billing period
    assert "31 May" not in text
    dates = re.findall(rf"\b\d{{1,2}} (?:{MONTHS}) \d{{4}}\b", text)
    assert len(dates) >= 6
    other_formats = (r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\b(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"
                     r"|\bUTC\b|\d{1,2}:\d{2}")
    assert not re.search(other_formats, text)


def test_the_page_shows_dates_in_the_viewers_zone(agent, client_for, invoice):
    """Every date on the page is a <time> that portal.js rewrites in the agent's zone, with a UTC fallback."""
    html = client_for(agent).get(invoice_url(invoice)).content.decode()
    assert '<time data-local="date" datetime="2025-06-01T00:30:00+00:00">1 June 2025</time>' in html
    assert '<time data-local="" datetime="2025-06-10T12:00:00+00:00">10 June 2025, 12:00 UTC</time>' in html
    article = html[html.index('<article class="invoice-doc">'):html.index("</article>")]
    outside_time = re.sub(r"<time[^>]*>.*?</time>", "", article)
    assert not re.search(rf"\d{{4}}-\d{{2}}-\d{{2}}|\b\d{{1,2}} (?:{MONTHS}) \d{{4}}", outside_time)


def test_the_pdf_is_a_download_named_after_the_invoice_number(agent, client_for, invoice):
    response = client_for(agent).get(invoice_url(invoice, pdf=True))
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="INV-2026-004217.pdf"'
    assert response.content.startswith(b"%PDF-") and response.content.rstrip().endswith(b"%%EOF")
    assert AccessLog.objects.get().view == "payments:invoice_pdf"


def test_unknown_invoice_is_404(agent, client_for):
    assert client_for(agent).get("/invoices/inv_nothere/").status_code == 404
    assert client_for(agent).get("/invoices/inv_nothere/pdf").status_code == 404


def test_invoices_need_a_role(outsider, client_for, invoice):
    assert client_for(outsider).get(invoice_url(invoice)).status_code == 403
    assert client_for(outsider).get(invoice_url(invoice, pdf=True)).status_code == 403
    assert not AccessLog.objects.exists()


def test_invoice_reads_a_fixed_number_of_queries(agent, client_for, invoice, card, django_assert_num_queries):
    client = client_for(agent)
    client.get(invoice_url(invoice))  # warm the session and role caches

    def page_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get(invoice_url(invoice)).status_code == 200
        return len(queries)

    small = page_queries()
    for day in range(30):
        payment = PaymentFactory(customer=invoice.customer, invoice=invoice, payment_method=card, amount=2100,
                                 amount_refunded=100, status=Payment.Status.PARTIALLY_REFUNDED,
                                 created_at=ISSUED + timedelta(days=day))
        Refund.objects.create(payment=payment, amount=100, currency="USD", status="succeeded",
                              created_at=ISSUED + timedelta(days=day, hours=1))
    assert page_queries() == small <= 10
    with django_assert_num_queries(small):
        client.get(invoice_url(invoice))
