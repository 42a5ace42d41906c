"""A card-update link end to end in Chromium: an agent sends it from the profile (the dialog says where it goes);
the customer, in a browser of their own with no portal account, opens the emailed link, enters a test card and is
told the card is saved and the failed invoice charged; the link then says it was used.

CARD_LINK_SCREENSHOTS=<dir> saves the dialog and the customer's pages there."""

from __future__ import annotations

import importlib
import os
import re
import time
from datetime import timedelta
from pathlib import Path

from django.apps import apps
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from payments.card_links import card_link_send, card_link_url
from payments.models import Invoice, Payment, PaymentMethod, PaymentMethodLink
from tests.factories import (
    CustomerFactory, InvoiceFactory, PaymentFactory, PaymentMethodFactory, SubscriptionFactory,
)


def _shot(page, name: str) -> None:
    folder = os.environ.get("CARD_LINK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(folder) / f"{name}.png", full_page=True)


def _emailed_url(timeout: float = 10) -> str:
    """The link in the one email sent (delivered by the live server's thread when the send commits)."""
    deadline = time.monotonic() + timeout
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(mail.outbox) == 1
    return re.search(r"https?://\S+/pay/card/\S+/", mail.outbox[0].body).group(0)


def test_agent_sends_a_link_and_the_customer_adds_a_card(live_server, signed_in_page, agent, browser, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    # The flush after an earlier transactional test removed the template its data migration made.
    importlib.import_module("support.migrations.0006_card_update_template").add_template(apps, None)
    customer = CustomerFactory(first_name="Grace", last_name="Hopper", email="grace.hopper@example.com")
    old = PaymentMethodFactory(customer=customer, brand="visa", last4="0341")
    SubscriptionFactory(customer=customer, payment_method=old)
    invoice = InvoiceFactory(customer=customer, status=Invoice.Status.OPEN, subtotal=1200)
    PaymentFactory(customer=customer, invoice=invoice, amount=1200, payment_method=old, status=Payment.Status.FAILED,
                   failure_code="card_declined", failure_message="Card declined")

    # The agent: the dialog names the address, the send closes it with a toast.
    page = signed_in_page(agent)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/customers/{customer.public_id}/")
    page.get_by_role("link", name="Send card-update link").click()
    dialog = page.locator("#card-link-dialog")
    expect(dialog).to_contain_text("grace.hopper@example.com")
    expect(dialog).to_contain_text("$12.00")
    _shot(page, "card-link-dialog")
    dialog.get_by_role("button", name="Send link").click()
    expect(page.locator("#toasts")).to_contain_text("Card-update link emailed to grace.hopper@example.com")
    expect(dialog).not_to_be_visible()
    url = _emailed_url()

    # The customer: no portal session, only the link.
    customer_context = browser.new_context(viewport={"width": 900, "height": 820})
    customer_page = customer_context.new_page()
    customer_page.goto(url)
    expect(customer_page.get_by_role("heading", name="Update your card")).to_be_visible()
    expect(customer_page.locator("body")).to_contain_text("Hi Grace,")
    expect(customer_page.locator("body")).to_contain_text("Amount due: $12.00")
    expect(customer_page.locator("body")).not_to_contain_text("Hopper")
    _shot(customer_page, "card-link-form")
    customer_page.get_by_label("Card number").fill("4242 4242 4242 4241")
    customer_page.get_by_label("Expiry (MM/YY)").fill("12/34")
    customer_page.get_by_label("Security code (CVC)").fill("123")
    customer_page.get_by_role("button", name="Save card").click()
    expect(customer_page.get_by_role("alert")).to_contain_text("The card number is not valid.")
    _shot(customer_page, "card-link-declined")
    customer_page.get_by_label("Card number").fill("4242 4242 4242 4242")
    customer_page.get_by_label("Security code (CVC)").fill("123")
    customer_page.get_by_role("button", name="Save card").click()
    expect(customer_page.locator("#card-link-result")).to_have_text(
        "Thanks, your card ending 4242 is saved. We charged $12.00 for your outstanding invoice.")
    _shot(customer_page, "card-link-saved")
    assert PaymentMethod.objects.get(customer=customer, is_default=True).last4 == "4242"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID

    customer_page.goto(url)
    expect(customer_page.locator("#card-link-refused")).to_contain_text("This link has already been used.")

    expired = card_link_send(customer=customer, actor=agent)
    PaymentMethodLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = customer_page.goto(card_link_url(expired))
    assert response.status == 410
    expect(customer_page.locator("#card-link-refused")).to_have_text("This link has expired. Ask us for a new one.")
    _shot(customer_page, "card-link-expired")
    customer_context.close()

    # The agent sees it on the timeline.
    page.goto(f"{live_server.url}/customers/{customer.public_id}/activity/")
    expect(page.locator("#tab-panel")).to_contain_text("Added a new card •••• 4242 through the emailed link")
    expect(page.locator("#tab-panel")).to_contain_text("Card-update link emailed (expires")


def test_an_app_store_customer_gets_the_reason_instead(live_server, signed_in_page, agent):
    from tests.factories import StorefrontFactory

    apple = CustomerFactory(storefront=StorefrontFactory(code="app-store", name="App Store", kind="app_store"))
    page = signed_in_page(agent)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/customers/{apple.public_id}/")
    button = page.get_by_role("button", name="Send card-update link")
    expect(button).to_be_disabled()
    expect(page.locator("#card-link-why")).to_have_text(
        "No card-update link: Their card is managed by the App Store; ask them to update it in their Apple ID "
        "settings.")
    _shot(page, "card-link-app-store")
