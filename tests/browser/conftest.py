"""Browser tests: Playwright driving Debian's Chromium against live_server, signed in as a persona."""

import importlib

import pytest
from django.apps import apps

from portal.roles import sync_roles

@pytest.fixture(autouse=True)
def migration_data(transactional_db):
    """The live server runs in another thread, so browser tests commit their data (transactional tests).
    Roles and segments come from data migrations, and the flush after a transactional test removes them, so
    every browser test puts them back first. (serialized_rollback would restore them, but it does not take effect
    when live_server is reached through another fixture such as signed_in_page.)"""
    sync_roles()
    importlib.import_module("segments.migrations.0002_segments").create_segments(apps, None)


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
