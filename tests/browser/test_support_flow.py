"""The support desk end to end in Chromium: from a failed payment on a profile an agent opens a ticket (payment
attached), adds an internal note and escalates it; a manager resolves it from the Escalations queue; the agent
sees the resolution on the customer's timeline."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from payments.models import Payment
from support.models import Escalation, Ticket
from tests.factories import CustomerFactory, PaymentFactory, PaymentMethodFactory, UserFactory
from tests.browser.sign_in import sign_in


def test_failed_payment_to_ticket_to_escalation_to_resolution(live_server, page, browser, agent):
    customer = CustomerFactory(first_name="Katherine", last_name="Johnson")
    card = PaymentMethodFactory(customer=customer, brand="visa", last4="0341")
    failed = PaymentFactory(customer=customer, payment_method=card, status=Payment.Status.FAILED, amount=2900,
                            failure_code="card_declined", failure_message="Card declined")
    manager = UserFactory(username="mira", role="Manager")

    # The agent: ticket from the failed payment, an internal note.
    sign_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/customers/{customer.public_id}/payments/")
    page.get_by_role("link", name=f"Open a ticket about payment {failed.public_id}").click()
    page.get_by_label("Description").fill("Card declined at renewal; the customer disputes the decline.")
    page.get_by_role("button", name="Open ticket").click()
    ticket = Ticket.objects.get()
    expect(page).to_have_url(f"{live_server.url}/tickets/{ticket.public_id}/")
    expect(page.get_by_label("Opened from")).to_contain_text(failed.public_id)
    page.get_by_label("Add to the conversation").fill("The bank confirms no block on their side.")
    page.get_by_role("button", name="Add message").click()
    expect(page.locator(".conversation .message-note")).to_contain_text("no block on their side")

    # ... and escalates the ticket from the customer's header.
    page.goto(f"{live_server.url}/customers/{customer.public_id}/")
    page.get_by_role("link", name="Escalate…").click()
    dialog = page.locator("#escalate-dialog")
    expect(dialog.get_by_label("Reason")).to_be_visible()
    dialog.get_by_label("Reason").select_option("billing_dispute")
    dialog.get_by_label("About").select_option(ticket.public_id)
    dialog.get_by_label(re.compile("Note for the manager")).fill("Customer asks for a manual retry and a goodwill credit.")
    dialog.get_by_role("button", name="Escalate").click()
    expect(page.locator("#escalation-bar")).to_contain_text("Billing dispute")
    escalation = Escalation.objects.get()
    assert escalation.ticket_id == ticket.pk and escalation.is_open
    assert Ticket.objects.get().status == Ticket.Status.ESCALATED
    expect(page.locator("#resolve-why")).to_contain_text("Only a manager can resolve escalations.")

    # The manager resolves it from the queue, in a browser of their own.
    manager_context = browser.new_context()
    manager_page = manager_context.new_page()
    sign_in(manager_page, live_server.url, manager)
    manager_page.goto(f"{live_server.url}/escalations/")
    panel = manager_page.locator(f"#escalation-{escalation.public_id}")
    expect(panel).to_contain_text("Katherine Johnson")
    expect(panel).to_contain_text("manual retry")
    panel.get_by_label(f"Resolution for {escalation.public_id}").fill("Retry approved; 5.00 credit granted.")
    panel.get_by_role("button", name="Resolve").click()
    expect(manager_page.locator(f"#escalation-{escalation.public_id}")).to_contain_text("Resolved")
    manager_context.close()

    # The agent sees the resolution on the timeline; the ticket is open again.
    page.goto(f"{live_server.url}/customers/{customer.public_id}/activity/")
    timeline = page.locator("#tab-panel")
    expect(timeline).to_contain_text(f"Escalation of ticket {ticket.public_id} resolved by mira")
    expect(timeline).to_contain_text("Retry approved; 5.00 credit granted.")
    expect(page.locator("#escalation-bar")).to_have_count(0)
    assert Ticket.objects.get().status == Ticket.Status.OPEN
