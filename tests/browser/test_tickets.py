"""Tickets in Chromium: from a failed payment on a profile, an agent opens a ticket with the payment attached and
adds an internal note; the Tickets page switches queues in place."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from payments.models import Payment
from support.models import Ticket
from tests.factories import CustomerFactory, PaymentFactory, PaymentMethodFactory


def test_agent_opens_a_ticket_from_a_failed_payment_and_adds_an_internal_note(live_server, signed_in_page, agent):
    customer = CustomerFactory(first_name="Grace", last_name="Hopper")
    card = PaymentMethodFactory(customer=customer, brand="visa", last4="0002")
    PaymentFactory(customer=customer, payment_method=card, status=Payment.Status.SUCCEEDED, amount=1500)
    failed = PaymentFactory(customer=customer, payment_method=card, status=Payment.Status.FAILED, amount=4999,
                            failure_code="insufficient_funds", failure_message="Insufficient funds")
    page = signed_in_page(agent)
    page.goto(f"{live_server.url}/customers/{customer.public_id}/payments/")

    rows = page.locator("#tab-panel tbody tr")
    expect(rows.filter(has_text="Succeeded").get_by_role("link", name=re.compile("Open a ticket"))).to_have_count(0)
    rows.filter(has_text=failed.public_id).get_by_role("link", name=f"Open a ticket about payment {failed.public_id}").click()

    expect(page.get_by_role("heading", name="New ticket for Grace Hopper")).to_be_visible()
    source = page.get_by_label("Opened from")
    expect(source).to_contain_text(failed.public_id)
    expect(source).to_contain_text("$49.99")
    expect(source).to_contain_text("Insufficient funds")
    expect(page.get_by_label("Subject")).to_have_value(f"Payment {failed.public_id} failed: Insufficient funds")
    page.get_by_label("Description").fill("Renewal failed twice; the customer asks whether we can retry on Friday.")
    page.get_by_label("Priority").select_option("high")
    page.get_by_role("button", name="Open ticket").click()

    ticket = Ticket.objects.get()
    expect(page).to_have_url(f"{live_server.url}/tickets/{ticket.public_id}/")
    expect(page.locator("#profile-header")).to_contain_text("Grace Hopper")  # the profile's own header
    expect(page.get_by_label("Opened from")).to_contain_text("Insufficient funds")
    expect(page.locator(".conversation")).to_contain_text("retry on Friday")
    expect(page.locator(".reply-clock")).to_contain_text("Reply due in 3 h")
    assert ticket.payment_id == failed.pk and ticket.priority == "high"

    page.evaluate("window.__sameDocument = true")
    expect(page.get_by_label("Internal note")).to_be_checked()
    page.get_by_label("Add to the conversation").fill("Checked the gateway: a soft decline, retry allowed.")
    page.get_by_role("button", name="Add message").click()
    note = page.locator(".conversation .message-note")
    expect(note).to_contain_text("Checked the gateway: a soft decline, retry allowed.")
    expect(note).to_contain_text("Internal note")
    expect(page.locator("#toasts")).to_contain_text("Internal note added.")
    expect(page.get_by_label("Add to the conversation")).to_have_value("")
    expect(page.locator(".reply-clock")).to_contain_text("Reply due in")  # a note does not stop the clock
    assert page.evaluate("window.__sameDocument") is True

    page.get_by_role("link", name="All tickets of this customer").click()
    expect(page.locator("#tab-panel")).to_contain_text(f"Payment {failed.public_id} failed")
    page.get_by_role("tab", name="Activity").click()
    expect(page.locator("#tab-panel")).to_contain_text(f"Ticket {ticket.public_id} opened (high priority)")
    expect(page.locator("#tab-panel")).to_contain_text("Internal note added on ticket")


def test_tickets_page_switches_queues_in_place(live_server, signed_in_page, agent):
    customer = CustomerFactory(first_name="Ada", last_name="Lovelace")
    from tests.support.factories import TicketFactory

    TicketFactory(customer=customer, subject="Mine to answer", assignee=agent)
    TicketFactory(customer=customer, subject="Waiting for the receipt", status="pending")
    page = signed_in_page(agent)
    page.goto(f"{live_server.url}/tickets/")
    queues = page.get_by_role("navigation", name="Queues")
    expect(queues.get_by_role("link", name=re.compile("Mine"))).to_contain_text("1")
    expect(page.locator(".tickets-table")).to_contain_text("Mine to answer")
    page.evaluate("window.__sameDocument = true")
    queues.get_by_role("link", name=re.compile("Waiting on customer")).click()
    expect(page).to_have_url(re.compile(r"queue=pending"))
    expect(page.locator(".tickets-table")).to_contain_text("Waiting for the receipt")
    expect(page.locator(".tickets-table")).not_to_contain_text("Mine to answer")
    assert page.evaluate("window.__sameDocument") is True
