"""The invoice page in Chromium: its dates are shown in the agent's own time zone."""

from __future__ import annotations

from datetime import datetime, timezone as dt_timezone

from playwright.sync_api import expect

from payments.models import Invoice, Payment
from tests.factories import CustomerFactory, InvoiceFactory, PaymentFactory, PaymentMethodFactory

ISSUED = datetime(2025, 6, 1, 0, 30, tzinfo=dt_timezone.utc)


def test_dates_are_in_the_agents_zone_and_a_paid_invoice_has_nothing_due(live_server, browser, agent):
    customer = CustomerFactory(first_name="Grace", last_name="Hopper")
    invoice = InvoiceFactory(customer=customer, status=Invoice.Status.PAID, subtotal=2500, issued_at=ISSUED,
                             paid_at=ISSUED)
    PaymentFactory(customer=customer, invoice=invoice, amount=2500, status=Payment.Status.SUCCEEDED,
                   payment_method=PaymentMethodFactory(customer=customer, brand="visa", last4="4242"),
                   created_at=ISSUED)
    context = browser.new_context(timezone_id="America/Los_Angeles", locale="en-US")
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(agent.username)
        page.get_by_label("Password").fill("correct-horse-battery")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/customers/")
        page.goto(f"{live_server.url}/invoices/{invoice.public_id}/")
        meta = page.locator(".invoice-meta")
        # 00:30 UTC on 1 June is still 31 May in California.
        expect(meta).to_contain_text("Date of issue")
        expect(meta.locator("time").first).to_have_text("May 31, 2025")
        expect(meta.locator("time").first).to_have_attribute("title", "2025-06-01T00:30:00+00:00 (shown in "
                                                                      "America/Los_Angeles)")
        summary = page.locator(".invoice-summary")
        expect(summary).to_contain_text("Paid $25.00 on May 31, 2025")
        expect(summary).to_contain_text("Paid with Visa •••• 4242.")
        expect(page.locator(".invoice-doc")).not_to_contain_text("Amount due")
    finally:
        context.close()
