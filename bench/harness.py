"""Benchmark harness: serve the real app with gunicorn on loopback, sign in, time requests, print JSON.

Used by every bench/*.py script:

    with Server() as base_url:
        cookies = session_cookie("agent")
        result = measure(base_url, cookies, ["/customers/?q=smith"], repeat=200)

`measure` reports p50/p95 in milliseconds and the SQL queries per request (X-Query-Count, set by
portal.middleware.QueryCountHeaderMiddleware, which the server is started with).
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def Server(workers: int = 2):
    """gunicorn serving portal.wsgi on a free loopback port, with the query-count header on."""
    port = _free_port()
    env = {**os.environ, "QUERY_COUNT_HEADER": "1", "LOG_LEVEL": "WARNING", "DEBUG": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("gunicorn did not come up")
            time.sleep(0.2)
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def session_cookie(username: str) -> dict[str, str]:
    """A signed-in session for `username`, created directly (no password hashing in the measured path)."""
    django_setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]  # the model backend
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return {settings.SESSION_COOKIE_NAME: session.session_key}


def measure(base_url: str, cookies: dict[str, str], paths: list[str], repeat: int = 200,
            warmup: int = 5, expect: int = 200, headers: dict[str, str] | None = None) -> dict:
    """GET the paths round-robin `repeat` times over one keep-alive connection; one client, like an agent.
    `headers` are sent with each request (an htmx request's HX-Request and HX-Target, say)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    headers = {**(headers or {}), "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    timings, queries = [], []
    for i in range(warmup + repeat):
        path = paths[i % len(paths)]
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != expect:
            raise RuntimeError(f"GET {path} answered {response.status}, expected {expect}")
        if i >= warmup:
            timings.append(elapsed)
            queries.append(int(response.getheader("X-Query-Count", "0")))
    conn.close()
    timings.sort()
    return {
        "n": len(timings),
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
        "queries_per_request": round(statistics.mean(queries), 1),
    }


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def emit(report: dict) -> None:
    print(json.dumps(report, indent=2))
