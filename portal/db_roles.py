"""Two database roles, so the application cannot rewrite its own history.

- The **owner** role owns the schema: it runs migrations and the demo-data bulk loader (which drops and rebuilds
  indexes), and nothing else.
- The **application** role (`DATABASES["default"]`) is what every process connects as: web, Celery worker and
  beat, `manage.py shell` and the other commands. It owns nothing, so it cannot ALTER, DROP, disable triggers or
  TRUNCATE; on ordinary tables it may SELECT, INSERT, UPDATE and DELETE; on the append-only logs
  (`APPEND_ONLY_TABLES`) only SELECT and INSERT. Privileges are re-applied after every `migrate`, from this list,
  so a new table gets them without anyone remembering to.

On the embedded server both roles are created at start (portal/embedded_db.py). On an external server the DBA
creates them and sets `DATABASE_URL` (application) and `DATABASE_OWNER_URL` (owner); README, "Security".
"""

from __future__ import annotations

from contextlib import contextmanager

from django.conf import settings
from django.db import connections
from psycopg import sql

# The logs the database keeps append-only: privileges (no UPDATE/DELETE/TRUNCATE for the application role) and
# triggers (portal/audit_chain.py: created_at set by the database, UPDATE and DELETE refused even for the owner).
APPEND_ONLY_TABLES = ("portal_auditevent", "portal_accesslog")
APPLICATION_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
APPEND_ONLY_PRIVILEGES = "SELECT, INSERT"
_CONNECTION_KEYS = ("USER", "PASSWORD", "HOST", "PORT")
_application_while_owner: dict[str, dict] = {}  # alias → the application role's credentials, inside as_owner()


def owner_credentials() -> dict:
    """USER/PASSWORD/HOST/PORT of the owner role (the application's own when no separate owner is configured)."""
    return settings.DATABASE_OWNER or {key: settings.DATABASES["default"].get(key, "") for key in _CONNECTION_KEYS}


def application_user(alias: str = "default") -> str:
    return (_application_while_owner.get(alias) or connections[alias].settings_dict).get("USER") or ""


def separate_roles(alias: str = "default") -> bool:
    """False when the application connects as the owner (one DATABASE_URL and no DATABASE_OWNER_URL)."""
    return owner_credentials().get("USER") != application_user(alias)


@contextmanager
def as_owner(alias: str = "default"):
    """Run the block connected as the owner role, then reconnect as the application role.

    For the few commands that change the schema (migrate, the demo bulk loader). Reconnecting ends the session,
    so it is refused inside a transaction. Re-entrant: nested uses keep the owner connection.
    """
    connection = connections[alias]
    credentials = owner_credentials()
    current = {key: connection.settings_dict.get(key, "") for key in _CONNECTION_KEYS}
    if current["USER"] == credentials.get("USER"):
        yield connection
        return
    if connection.in_atomic_block:
        raise RuntimeError("Switching to the owner role would end the current transaction.")
    connection.close()
    _application_while_owner[alias] = current
    connection.settings_dict.update(credentials)
    try:
        yield connection
    finally:
        connection.close()
        connection.settings_dict.update(current)
        del _application_while_owner[alias]


def grant_application_privileges(connection) -> None:
    """Give the application role exactly what it may do, on every table and sequence of the schema.

    Run by the owner after each migrate (portal.apps): idempotent, and it also covers tables that a later
    migration of any app adds (and the Celery broker's tables, created by portal.broker).
    """
    app_role = application_user(connection.alias)
    if not separate_roles(connection.alias) or connection.settings_dict.get("USER") == app_role:
        return
    role = sql.Identifier(app_role)
    statements = [
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role),
        sql.SQL("GRANT " + APPLICATION_PRIVILEGES + " ON ALL TABLES IN SCHEMA public TO {}").format(role),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(role),
    ]
    for table in APPEND_ONLY_TABLES:
        statements += [
            sql.SQL("REVOKE ALL ON {} FROM {}").format(sql.Identifier(table), role),
            sql.SQL("GRANT " + APPEND_ONLY_PRIVILEGES + " ON {} TO {}").format(sql.Identifier(table), role),
        ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement.as_string(cursor.connection))
