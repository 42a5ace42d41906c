"""The directory in Chromium: type part of an email, the row appears without a reload, the keyboard opens it."""

import re

from playwright.sync_api import expect

from tests.factories import CustomerFactory


def test_an_agent_finds_a_customer_by_part_of_the_email_and_opens_it_with_the_keyboard(signed_in_page, agent):
    zelda = CustomerFactory(first_name="Zelda", last_name="Fitzgerald", email="zelda.fitzgerald@jazz.example")
    CustomerFactory(first_name="Scott", last_name="Fitzgerald", email="scott@jazz.example")
    page = signed_in_page(agent)
    page.evaluate("window.loadedOnce = true")  # survives htmx swaps, not a page load

    page.keyboard.press("/")
    expect(page.locator("#global-search")).to_be_focused()
    page.keyboard.type("DA.FITZ", delay=40)

    rows = page.locator("tbody[data-row-list] tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Zelda Fitzgerald")
    expect(page.get_by_role("status").first).to_contain_text("1 customer")
    expect(page).to_have_url(re.compile(r"/customers/\?q=DA\.FITZ$"))
    assert page.evaluate("window.loadedOnce") is True

    searches = []
    page.on("request", lambda request: searches.append(request.url) if "q=" in request.url else None)
    page.keyboard.press("ArrowDown")  # from the search box into the rows
    expect(rows.first).to_have_attribute("aria-selected", "true")
    page.wait_for_timeout(400)  # longer than the search box's debounce
    assert searches == []  # leaving the search box does not search again (and redraw the rows under the selection)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/customers/{zelda.public_id}/$"))


def test_sorting_a_filter_and_an_empty_result_update_in_place(signed_in_page, agent):
    for first in ("Anna", "Bert", "Cleo"):
        CustomerFactory(first_name=first, last_name="Example", status="active" if first == "Bert" else "churned")
    page = signed_in_page(agent)
    page.evaluate("window.loadedOnce = true")

    page.get_by_label("Status").select_option("active")
    expect(page.locator("tbody[data-row-list] tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"status=active"))
    page.get_by_label("Status").select_option("")
    expect(page.locator("tbody[data-row-list] tr")).to_have_count(3)

    page.get_by_role("link", name="Name", exact=True).click()
    expect(page.locator("th[aria-sort='ascending']")).to_contain_text("Name")
    expect(page).to_have_url(re.compile(r"sort=name"))

    page.locator("#global-search").fill("nobody-like-this")
    expect(page.get_by_role("heading", name=re.compile("No customer matches"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("shorter part"))).to_be_visible()
    assert page.evaluate("window.loadedOnce") is True
