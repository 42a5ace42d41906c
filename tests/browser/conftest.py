"""Browser tests: Playwright driving Debian's Chromium against live_server, signed in as a persona."""

import pytest


@pytest.fixture
def signed_in_page(live_server, page):
    """signed_in_page(user) → the Playwright page, signed in through the real login form."""

    def sign_in(user, password="correct-horse-battery"):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/customers/")
        return page

    return sign_in


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
