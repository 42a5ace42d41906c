"""Refunds in Chromium: an agent refunds part of a payment and sees what is left; a refund outside the window goes
to Approvals, where a manager approves it (with their password), and the agent sees it on the timeline."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from payments.models import Payment, Refund
from tests.factories import UserFactory
from tests.payments.factories import captured_payment, card_customer
from tests.browser.sign_in import sign_in


def test_an_agent_refunds_part_and_an_out_of_window_refund_is_approved(live_server, page, browser, agent):
    customer = card_customer(first_name="Ada", last_name="Lovelace")
    recent = captured_payment(amount=4_900, customer=customer)
    old = captured_payment(amount=2_500, customer=customer)
    Payment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=45))
    manager = UserFactory(username="mira", role="Manager")

    sign_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/customers/{customer.public_id}/payments/")
    page.get_by_role("link", name=f"Refund payment {recent.public_id}").click()
    dialog = page.locator("#money-dialog")
    expect(dialog.locator("#refund-remaining")).to_have_text("$49.00")
    dialog.get_by_label("Amount to refund (USD)").fill("120.00")  # more than is left
    expect(dialog.locator("#refund-verdict")).to_contain_text("Only $49.00 can still be refunded")
    dialog.get_by_label("Amount to refund (USD)").fill("12.50")
    expect(dialog.locator("#refund-verdict")).to_contain_text("Immediate refund of $12.50")
    dialog.get_by_label("Reason", exact=True).select_option("requested_by_customer")
    dialog.get_by_role("button", name="Refund").click()
    expect(page.locator(".toast-message").last).to_contain_text("Refunded $12.50")
    expect(page.locator("#tab-panel")).to_contain_text("−$12.50 refunded")
    assert Refund.objects.get(payment=recent).status == "succeeded"

    # Outside the window: the dialog says so before submitting, and the request goes to a manager.
    page.get_by_role("link", name=f"Refund payment {old.public_id}").click()
    expect(dialog.locator("#refund-verdict")).to_contain_text("outside the 30-day refund window")
    dialog.get_by_label("Reason", exact=True).select_option("service_problem")
    dialog.get_by_role("button", name="Send for approval").click()
    expect(page.locator(".toast-message").last).to_contain_text("sent to a manager for approval")
    expect(page.locator("#tab-panel")).to_contain_text("$25.00 refund pending")

    manager_context = browser.new_context()
    manager_page = manager_context.new_page()
    sign_in(manager_page, live_server.url, manager)
    manager_page.goto(f"{live_server.url}/approvals/")
    approval_row = manager_page.locator("[id^=approval-apr_]").first
    expect(approval_row).to_contain_text("Refund $25.00 of payment")
    approval_row.get_by_placeholder("Your password (to approve)").fill("correct-horse-battery")
    approval_row.get_by_role("button", name="Approve").click()
    expect(approval_row.locator(".approval-outcome")).to_contain_text("Approved by mira")
    manager_context.close()
    assert Refund.objects.get(payment=old).status == "succeeded"

    page.goto(f"{live_server.url}/customers/{customer.public_id}/activity/")
    expect(page.locator("#tab-panel")).to_contain_text("approved by mira")
    page.goto(f"{live_server.url}/customers/{customer.public_id}/payments/")
    expect(page.locator("#tab-panel")).to_contain_text("−$25.00 refunded")
