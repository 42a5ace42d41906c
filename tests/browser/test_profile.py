"""The profile in Chromium: tabs swap without reloading the page, notes and tags appear in place."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.customers.test_profile import make_customer


def test_agent_switches_tabs_and_adds_a_note_and_a_tag(live_server, signed_in_page, agent):
    customer = make_customer()
    page = signed_in_page(agent)
    page.goto(f"{live_server.url}/customers/{customer.public_id}/")
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # a full reload would lose this

    for tab, sample in (("Payments", "Partially refunded"), ("Activity", "Example campaign event"),
                        ("Notes", "Prefers email over phone.")):
        page.get_by_role("tab", name=tab).click()
        expect(page).to_have_url(re.compile(rf"/customers/{customer.public_id}/{tab.lower()}/$"))
        expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
        expect(page.locator("#tab-panel")).to_contain_text(sample)
        expect(page.locator("#profile-header")).to_contain_text("Ada Lovelace")

    page.get_by_label("New note").fill("<b>Escaped</b> — called about the refund")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".note").first).to_contain_text("<b>Escaped</b> — called about the refund")
    expect(page.locator("#toasts")).to_contain_text("Note added.")
    expect(page.get_by_label("New note")).to_have_value("")

    page.get_by_label("Add tag").fill("  Needs   Follow-up ")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#customer-tags .tag-chip", has_text="needs follow-up")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("Tag added.")

    page.get_by_role("tab", name="Activity").click()
    expect(page.locator("#tab-panel")).to_contain_text("Tag “needs follow-up” added")
    expect(page.locator("#tab-panel")).to_contain_text("Internal note added")
    assert page.evaluate("window.__sameDocument") is True

    page.go_back()  # the URL keeps the tab: back returns to the notes tab
    expect(page).to_have_url(re.compile(r"/notes/$"))
    expect(page.locator("#tab-panel")).to_contain_text("called about the refund")


def test_profile_edit_dialog_saves_and_refreshes_the_header(live_server, signed_in_page, agent):
    customer = make_customer()
    page = signed_in_page(agent)
    page.goto(f"{live_server.url}/customers/{customer.public_id}/")
    page.get_by_role("link", name="Edit profile").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Email").fill("not-an-email")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).to_contain_text("Enter a valid email address.")
    dialog.get_by_label("Email").fill("ada@analytical.example")
    dialog.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.locator("#profile-header")).to_contain_text("ada@analytical.example")
    expect(page.locator("#toasts")).to_contain_text("Profile saved.")
