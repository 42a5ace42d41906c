"""The audit page in Chromium on fresh demo data: times in the browser's zone, no database keys, filters that
narrow the list in place, and the access-log tab filtered by customer."""

from __future__ import annotations

import io
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import expect

ZONE = "America/New_York"


@pytest.fixture
def demo_page(live_server, browser):
    call_command("seed_demo", "--today=2025-06-01", customers=120, seed=3, stdout=io.StringIO())
    context = browser.new_context(timezone_id=ZONE, locale="en-US", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill(settings.PORTAL["DEMO_PASSWORD"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/customers/")
    yield page
    context.close()


def _in_zone(iso: str) -> str:
    """What Intl.DateTimeFormat('en-US', {dateStyle: 'medium', timeStyle: 'medium'}) shows in ZONE."""
    when = datetime.fromisoformat(iso).astimezone(ZoneInfo(ZONE))
    return f"{when:%b} {when.day}, {when.year}, {when.hour % 12 or 12}:{when:%M:%S} {when:%p}"


def _visible_rows(page, selector):
    return page.locator(f"{selector} tbody tr").all_inner_texts()


def test_manager_reads_the_demo_audit_log_in_their_own_zone(live_server, demo_page):
    page = demo_page
    page.goto(f"{live_server.url}/audit/")
    rows = page.locator("#audit-results tbody tr")
    expect(rows).to_have_count(50)

    first_time = rows.first.locator("time")
    shown = first_time.inner_text().replace("\u202f", " ").replace("\xa0", " ")
    assert shown == _in_zone(first_time.get_attribute("datetime"))
    assert "UTC" not in shown and ZONE in first_time.get_attribute("title")

    # No database keys: apart from note lengths, the table holds no bare integer.
    table = page.evaluate("""() => {
        const body = document.querySelector('#audit-results tbody').cloneNode(true);
        body.querySelectorAll('time').forEach((t) => t.remove());
        return body.innerText;
    }""")
    assert re.search(r"Note on cus_\w{16} \(\d[\d,]* characters\)", table)
    remaining = re.sub(r"\(\d[\d,]* characters\)", "", table)
    assert re.findall(r"(?<![\w.,$€£])\d+(?![\w.,])", remaining) == []

    # Filters narrow the list in place (htmx), and the URL keeps them.
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Username").fill("agent")
    expect(page).to_have_url(re.compile(r"actor=agent"))
    expect(rows.first).to_contain_text("agent")
    who = page.locator("#audit-results tbody tr td:nth-child(2)").all_inner_texts()
    assert who and all(text.split()[0] == "agent" for text in who)
    page.get_by_label("Action starts with").fill("customers.tag")
    expect(page).to_have_url(re.compile(r"action=customers.tag"))
    expect(rows.first).to_contain_text("customers.tag.added")
    assert all("customers.tag.added" in row for row in _visible_rows(page, "#audit-results"))
    page.get_by_label("Username").fill("nobody-at-all")
    expect(page.locator("#audit-results")).to_contain_text("No audit events match these filters")
    assert page.evaluate("window.__sameDocument") is True


def test_the_access_log_tab_filters_by_customer(live_server, demo_page):
    page = demo_page
    page.goto(f"{live_server.url}/audit/")
    page.get_by_role("link", name="Customer data views").click()
    expect(page).to_have_url(f"{live_server.url}/audit/access/")
    rows = page.locator("#access-results tbody tr")
    expect(rows).to_have_count(50)
    customer = rows.nth(3).locator("a").inner_text()
    time_el = rows.first.locator("time")
    assert time_el.inner_text().replace("\u202f", " ") == _in_zone(time_el.get_attribute("datetime"))

    page.get_by_label("Customer id").fill(customer)
    expect(page).to_have_url(re.compile(rf"customer={customer}"))
    expect(rows.first.locator("a")).to_have_text(customer)
    texts = _visible_rows(page, "#access-results")
    assert 0 < len(texts) < 50 and all(customer in text for text in texts)
