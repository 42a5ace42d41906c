"""Helpers for tests that start other processes against the test database."""

import os
import sys
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url(credentials: dict | None = None) -> str:
    """A DATABASE_URL for the database pytest-django created, for subprocesses (Unix socket or TCP); as the
    application role, or with the `credentials` (USER/PASSWORD/HOST/PORT) of another."""
    db = {**connection.settings_dict, **(credentials or {})}
    user = db.get("USER") or ""
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or ""
    if host.startswith("/"):  # Unix socket: django-environ reads a path-like database name as socket dir + name
        return f"postgres://{user}{password}@/{quote(host, safe='')}/{db['NAME']}"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{db['NAME']}"


def subprocess_env(**overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    from portal.db_roles import owner_credentials

    env = {**env, "DATABASE_URL": test_database_url(), "DATABASE_OWNER_URL": test_database_url(owner_credentials()),
           "PORTAL_TESTING": "0", "LOG_LEVEL": "WARNING"}
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def manage_command(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), *args]
