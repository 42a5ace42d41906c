"""Subscription actions in Chromium: an agent upgrades a customer after reading the preview (charged now, the MRR
change) and finds the new plan on the tab and on the timeline; a customer cancelling because they do not use it
is offered a pause, which they accept: paused, with a resume date."""

from __future__ import annotations

import re

from django.utils import timezone
from playwright.sync_api import expect

from subscriptions.models import RetentionOffer, Subscription
from subscriptions.retention import add_months
from tests.subscriptions.catalog import catalogue, subscribed
from tests.browser.sign_in import sign_in


def test_an_agent_upgrades_after_the_preview(live_server, page, agent):
    plans = catalogue()
    subscription = subscribed(plans["standard"])
    customer = subscription.customer

    sign_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/customers/{customer.public_id}/subscriptions/")
    page.get_by_role("link", name="Change plan…").click()
    dialog = page.locator("#subscription-dialog")
    dialog.get_by_label("New plan").select_option("premium-monthly")
    expect(dialog.locator("#impact-now")).to_contain_text(re.compile(r"\$\d+\.\d\d charged"))
    expect(dialog.locator("#impact-mrr")).to_contain_text("$12.99 → $19.99")
    expect(dialog.locator("#impact-mrr")).to_contain_text("+$7.00")
    # At renewal instead: nothing now; back to now before confirming
    dialog.get_by_label("At renewal").check()
    expect(dialog.locator("#impact-now")).to_have_text("Nothing charged")
    dialog.get_by_label("Now, with proration").check()
    expect(dialog.locator("#impact-now")).to_contain_text(re.compile(r"\$\d+\.\d\d charged"))
    dialog.get_by_role("button", name="Change plan").click()

    expect(page.locator(".toast-message").last).to_contain_text("Premium")
    expect(page.locator(".toast-message").last).to_contain_text("$19.99")  # the next invoice
    expect(page.locator("#tab-panel tbody tr").first).to_contain_text("Premium")
    expect(page.locator("#subscription-actions")).to_contain_text("Premium")
    subscription.refresh_from_db()
    assert subscription.plan == plans["premium"]
    page.get_by_role("tab", name="Activity").click()
    expect(page.locator("#tab-panel .timeline li.kind-subscription").first).to_contain_text("Premium")


def test_not_using_it_is_offered_a_pause_which_the_customer_accepts(live_server, page, agent):
    subscription = subscribed(catalogue()["standard"])
    customer = subscription.customer

    sign_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/customers/{customer.public_id}/subscriptions/")
    page.get_by_role("link", name="Cancel…").click()
    dialog = page.locator("#subscription-dialog")
    dialog.get_by_label("Not using it").check()
    dialog.get_by_role("button", name="Continue").click()
    offer = dialog.locator("#retention-offer")
    expect(offer).to_contain_text("Offer a pause of 1 month instead")
    offer.get_by_label("Pause for").select_option("2")
    dialog.get_by_role("button", name="Accept the offer").click()

    resume_on = add_months(timezone.localdate(), 2)
    expect(page.locator(".toast-message").last).to_contain_text("Kept: paused for 2 months")
    expect(page.locator("#tab-panel tbody tr").first).to_contain_text("Paused")
    expect(page.locator("#tab-panel tbody tr").first).to_contain_text("Resumes")
    expect(page.get_by_role("link", name="Resume…")).to_be_visible()
    subscription.refresh_from_db()
    assert (subscription.status, subscription.resume_on) == (Subscription.Status.PAUSED, resume_on)
    assert list(RetentionOffer.objects.values_list("kind", "status")) == [("pause", "accepted")]
