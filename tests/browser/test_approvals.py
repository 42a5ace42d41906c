"""Four eyes in Chromium: an agent's request waits in the managers' queue (the sidebar counts it); a manager's
own request shows its buttons disabled with the reason; rejecting without a comment is refused in place; the
manager approves with a comment, the row turns approved with a toast, and the agent reads the outcome under My
requests and on the customer's timeline."""

from __future__ import annotations

from playwright.sync_api import expect

from portal.models import Approval
from tests.approval_kinds import request_tag
from tests.factories import CustomerFactory, UserFactory
from tests.browser.sign_in import sign_in


def test_a_manager_decides_in_the_queue_and_the_agent_sees_it(live_server, page, browser, agent, approval_kinds):
    customer = CustomerFactory(first_name="Grace", last_name="Hopper")
    manager = UserFactory(username="mira", role="Manager")
    waiting = request_tag(customer=customer, actor=agent, tag="vip", amount=4500,
                          note="Ten years with us; asked for the VIP line.")
    own = request_tag(customer=customer, actor=manager, tag="partner")

    sign_in(page, live_server.url, manager)
    badge = page.locator(".sidebar .nav-badge")
    # The agent's request, not the manager's own; "(" and " waiting)" are for screen readers.
    expect(badge).to_have_text("(1 waiting)")
    page.keyboard.press("g")
    page.keyboard.press("a")
    expect(page).to_have_url(f"{live_server.url}/approvals/")
    row = page.locator(f"#approval-{waiting.public_id}")
    expect(row).to_contain_text("Add tag “vip”")
    expect(row).to_contain_text("Grace Hopper")
    expect(row).to_contain_text("$45.00")
    expect(row).to_contain_text("Goodwill gesture")
    expect(row).to_contain_text("Ten years with us")
    expect(row).to_contain_text("expires in 2 days")

    mine = page.locator(f"#approval-{own.public_id}")
    expect(mine.get_by_role("button", name="Approve")).to_be_disabled()
    expect(mine).to_contain_text("Your request: another manager decides.")

    row.get_by_role("button", name="Reject").click()
    expect(row.get_by_role("alert")).to_contain_text("Write why you reject it")
    assert Approval.objects.get(pk=waiting.pk).status == "pending"

    row.get_by_label(f"Comment on {waiting.public_id}").fill("Welcome to VIP, Grace.")
    row.get_by_role("button", name="Approve").click()
    expect(row.locator(".approval-outcome")).to_contain_text("Approved by mira")
    expect(row).to_contain_text("Welcome to VIP, Grace.")
    expect(page.locator("#toasts")).to_contain_text("Approved and carried out")
    assert Approval.objects.get(pk=waiting.pk).status == "approved"

    # The agent, in a browser of their own: My requests, and the customer's timeline.
    agent_context = browser.new_context()
    agent_page = agent_context.new_page()
    sign_in(agent_page, live_server.url, agent)
    agent_page.goto(f"{live_server.url}/approvals/")
    expect(agent_page.get_by_role("link", name="My requests")).to_have_attribute("aria-current", "page")
    expect(agent_page.locator(f"#approval-{waiting.public_id}")).to_contain_text("Approved by mira")
    expect(agent_page.locator(f"#approval-{own.public_id}")).to_have_count(0)
    agent_page.goto(f"{live_server.url}/customers/{customer.public_id}/activity/")
    timeline = agent_page.locator("#tab-panel")
    expect(timeline).to_contain_text("Add tag of $45.00 approved by mira")
    expect(timeline).to_contain_text("Welcome to VIP, Grace.")
    agent_context.close()
