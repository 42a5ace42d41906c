"""Fixtures for the money tests.

Money tests call the sandbox gateway after real commits (a gateway call is never made inside a transaction), so
most of them run on `transactional_db`; `money_db` also restores what the flush between such tests removes.

The Stripe adapter's tests run against a localstripe server (a stateful fake of Stripe's API, from the dev
dependencies), started once per test session on 127.0.0.1 and a free port; the `stripe_settings` fixture points
the portal at it. localstripe is started through its aiohttp app rather than its `localstripe` script, for two
reasons: the script listens on every interface, and it writes its whole store to /tmp/localstripe.pickle after each
write, a path every localstripe on the machine shares.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


@pytest.fixture
def money_db(transactional_db):
    from portal.roles import sync_roles

    sync_roles()  # the flush after a transactional test removes the groups the data migration made


@pytest.fixture
def people(money_db):
    from tests.factories import UserFactory

    return (UserFactory(username="ann", role="Agent"), UserFactory(username="max", role="Manager"),
            UserFactory(username="mia", role="Manager"))


# ---- localstripe -------------------------------------------------------------------------------------------------

SECRET_KEY = "sk_test_portal"
WEBHOOK_SECRET = "whsec_test_portal"

LAUNCH = """
import sys
from aiohttp import web
from localstripe import resources
resources.Store.dump_to_disk = lambda self: None  # keep the store in memory only
from localstripe.server import app
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe_url():
    if importlib.util.find_spec("localstripe") is None:
        pytest.skip("localstripe is not installed (it is a dev dependency: make install)")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-c", LAUNCH, str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                request = urllib.request.Request(f"{url}/v1/customers",
                                                 headers={"Authorization": f"Bearer {SECRET_KEY}"})
                with urllib.request.urlopen(request, timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"localstripe did not start on {url}")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture
def stripe_settings(settings, localstripe_url):
    settings.STRIPE_API_BASE = localstripe_url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_portal"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.GATEWAY_TIMEOUT_SECONDS = 10
    settings.STRIPE_OFF_SESSION = False  # localstripe refuses the parameter
    return settings
