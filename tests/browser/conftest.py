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


def pytest_runtest_setup(item):
    """Without Chromium (a laptop without Debian's package), skip; CI sets REQUIRE_BROWSER=1 so it fails instead."""
    import os
    import shutil

    if "tests/browser/" not in str(item.fspath):
        return
    executable = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not shutil.which(executable) and not os.environ.get("REQUIRE_BROWSER"):
        pytest.skip(f"Chromium not found at {executable}: apt-get install chromium")
