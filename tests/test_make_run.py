"""`make run` (portal/run.py): migrates, seeds an empty database, serves with a worker and beat, stops on Ctrl-C."""

import http.client
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, subprocess_env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    return conn.getresponse().status


@pytest.mark.django_db(transaction=True)
def test_run_serves_the_seeded_portal_and_stops_cleanly_on_ctrl_c():
    from customers.models import Customer

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "portal.run"], cwd=ROOT,
                            env=subprocess_env(PORT=port, DEMO_CUSTOMERS=60),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if _get(port, "/healthz") == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the portal did not come up"
            time.sleep(0.5)
        assert _get(port, "/accounts/login/") == 200
        assert _get(port, "/customers/") == 302  # login required
        assert Customer.objects.count() == 60
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    for name in ("web", "worker", "beat"):
        assert f"stopping {name}" in output
    assert "Stopped." in output
    # A clean stop: the worker, beat and web server shut down without logging an error on the way out.
    problems = [line for line in output.splitlines() if " ERROR" in line or "ERROR/" in line or "Traceback" in line]
    assert problems == [], output
