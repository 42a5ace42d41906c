"""One search box on every page, in Chromium at a wide and a narrow window: `/` then typing shows live matches (the
directory's list on the directory, a dropdown elsewhere); at 800 px the sidebar is a rail of icons and long emails
stay on one line."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.factories import CustomerFactory

WIDTHS = [1400, 800]
LONG_EMAIL = "maximiliana.featherstonehaugh-cholmondeley@a-very-long-company-domain.example"


@pytest.fixture
def fitzgeralds(db):
    return {
        "zelda": CustomerFactory(first_name="Zelda", last_name="Fitzgerald", email="zelda.fitzgerald@jazz.example"),
        "scott": CustomerFactory(first_name="Scott", last_name="Fitzgerald", email="scott@jazz.example"),
        "max": CustomerFactory(first_name="Maximiliana", last_name="Featherstonehaugh", email=LONG_EMAIL),
    }


@pytest.mark.parametrize("width", WIDTHS)
def test_slash_then_typing_lists_matches_live_on_the_directory(signed_in_page, agent, fitzgeralds, width):
    page = signed_in_page(agent)
    page.set_viewport_size({"width": width, "height": 900})
    expect(page.locator("input[name=q]")).to_have_count(1)  # one search box: the top bar's
    page.evaluate("window.loadedOnce = true")

    page.keyboard.press("/")
    search = page.locator("#global-search")
    expect(search).to_be_focused()
    search.press_sequentially("fitzg", delay=30)
    rows = page.locator("tbody[data-row-list] tr")
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"/customers/\?q=fitzg$"))
    expect(page.locator("#search-matches")).to_have_count(0)  # no dropdown here: the list itself is live
    assert page.evaluate("window.loadedOnce") is True

    search.fill("")
    search.press_sequentially("scott", delay=30)
    expect(rows).to_have_count(1)
    page.keyboard.press("Enter")  # submits the directory's form: the same list, still no reload
    expect(rows).to_have_count(1)
    assert page.evaluate("window.loadedOnce") is True


@pytest.mark.parametrize("width", WIDTHS)
def test_slash_then_typing_on_a_profile_drops_down_matches(live_server, signed_in_page, agent, fitzgeralds, width):
    page = signed_in_page(agent)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/customers/{fitzgeralds['max'].public_id}/")
    expect(page.locator("input[name=q]")).to_have_count(1)

    page.keyboard.press("/")
    search = page.locator("#global-search")
    expect(search).to_be_focused()
    search.press_sequentially("fitzg", delay=30)
    matches = page.locator("#search-matches")
    expect(matches).to_be_visible()
    options = matches.locator(".search-match:not(.search-match-all)")
    expect(options).to_have_count(2)
    expect(matches).to_contain_text("Zelda Fitzgerald")
    expect(matches).to_contain_text("All 2 matches in the directory")
    expect(search).to_have_attribute("aria-expanded", "true")

    # Escape closes, typing opens again; the arrows move through the matches with the focus kept in the box.
    page.keyboard.press("Escape")
    expect(matches).to_be_hidden()
    expect(search).to_be_focused()
    search.press_sequentially("e", delay=30)  # "fitzge"
    expect(matches).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    second = options.nth(1)
    expect(second).to_have_attribute("aria-selected", "true")
    expect(search).to_have_attribute("aria-activedescendant", second.get_attribute("id"))
    expect(search).to_be_focused()
    target = second.get_attribute("href")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{target}")

    # Enter with no match selected opens the full list in the directory.
    page.keyboard.press("/")
    search.press_sequentially("jazz", delay=30)
    expect(page.locator("#search-matches .search-match")).to_have_count(3)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/customers/\?q=jazz$"))
    expect(page.locator("tbody[data-row-list] tr")).to_have_count(2)


def test_at_800_px_the_sidebar_is_a_rail_and_long_emails_stay_on_one_line(signed_in_page, agent, fitzgeralds):
    page = signed_in_page(agent)
    for width, collapsed in ((1400, False), (800, True)):
        page.set_viewport_size({"width": width, "height": 900})
        sidebar = page.locator("nav.sidebar").bounding_box()
        label = page.locator("nav.sidebar .nav-label", has_text="Customers")
        assert (sidebar["width"] < 80) is collapsed, (width, sidebar)
        assert (label.bounding_box()["width"] <= 1) is collapsed
        link = page.get_by_role("link", name=re.compile("^Customers"))
        expect(link).to_be_visible()  # still reachable, by its icon
        assert link.locator("svg.nav-icon").bounding_box()["width"] > 10

        cell = page.locator("td.col-email", has_text="maximiliana")
        expect(cell).to_have_attribute("title", LONG_EMAIL)
        clip = cell.locator(".cell-clip")
        one_line = clip.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)")
        height = clip.bounding_box()["height"]
        assert abs(height - one_line) < 1, (width, height, one_line)
        assert clip.evaluate("el => el.scrollWidth > el.clientWidth")  # cut short, with an ellipsis
        assert clip.evaluate("el => getComputedStyle(el).textOverflow") == "ellipsis"
