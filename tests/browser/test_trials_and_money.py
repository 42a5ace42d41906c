"""Trials and money in Chromium: a trial is marked with its end date in the directory row and the profile header,
and the MRR sort compares euros and dollars at the configured rate while each row keeps its own currency."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from playwright.sync_api import expect

from customers.services import customer_refresh_derived_state
from subscriptions.models import Subscription
from tests.customers.test_profile import make_customer
from tests.factories import CustomerFactory, PlanFactory, SubscriptionFactory

TRIAL_END = datetime(2031, 3, 14, 12, 0, tzinfo=dt_timezone.utc)


def subscribed(first: str, last: str, *, price: int, currency: str, status: str = "active"):
    customer = CustomerFactory(first_name=first, last_name=last, currency=currency)
    SubscriptionFactory(customer=customer, status=status,
                        plan=PlanFactory(code=f"plan-{last.lower()}", price=price, currency=currency))
    customer_refresh_derived_state(customer)
    return customer


def test_a_trial_is_marked_and_mrr_sorts_in_one_currency(live_server, signed_in_page, agent):
    subscribed("Eve", "Euro", price=2000, currency="EUR")  # 21.60 USD at 1 EUR = 1.08 USD
    subscribed("Dan", "Dollar", price=2100, currency="USD")  # more by its raw number, less in USD
    subscribed("Tim", "Ten", price=1000, currency="USD")
    trial = make_customer(live_status=Subscription.Status.TRIAL)
    trial.subscriptions.filter(status="trial").update(trial_end=TRIAL_END)
    customer_refresh_derived_state(trial)

    page = signed_in_page(agent)
    page.get_by_role("link", name="MRR", exact=True).click()  # the first click sorts the biggest first
    expect(page.locator("th[aria-sort='descending']")).to_contain_text("MRR")
    names = page.locator("tbody[data-row-list] td.col-name a")
    expect(names).to_have_text(["Eve Euro", "Dan Dollar", "Tim Ten", "Ada Lovelace"])
    rows = page.locator("tbody[data-row-list] tr")
    expect(rows.nth(0).locator("td.col-mrr")).to_have_text("€20.00")  # shown in the customer's own currency
    expect(rows.nth(1).locator("td.col-mrr")).to_have_text("$21.00")
    expect(page.get_by_role("link", name="MRR", exact=True)).to_have_attribute(
        "title", "Sort by MRR, ascending. Sorted in USD at configured rates: 1 EUR = 1.08 USD, "
                 "1 GBP = 1.27 USD. Each customer's MRR shows in their own currency.")

    trial_row = page.locator("tbody[data-row-list] tr", has_text="Ada Lovelace")
    status_cell = trial_row.locator("td.col-status")
    expect(status_cell.locator(".status-active")).to_have_text("Active")
    expect(status_cell.locator(".status-trial")).to_have_text("Trial")
    expect(status_cell).to_contain_text("ends")
    expect(status_cell.locator(f"time[datetime='{TRIAL_END.isoformat()}']")).to_contain_text("2031")
    expect(trial_row.locator("td.col-mrr")).to_have_attribute("title", "No MRR during the trial")

    trial_row.locator("td.col-name a").click()
    page.wait_for_url(f"{live_server.url}/customers/{trial.public_id}/")
    header = page.locator("#profile-header")
    expect(header.locator(".profile-title .status-trial")).to_have_text("Trial")
    expect(header.locator(".profile-title")).to_contain_text("ends")
    expect(header.locator(f".profile-title time[datetime='{TRIAL_END.isoformat()}']")).to_contain_text("2031")
    expect(header).to_contain_text("during the trial; $25.00 a month once it converts")
