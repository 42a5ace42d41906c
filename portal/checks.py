"""Production start-up rules: no default secret, no DEBUG, no demo users.

The checks run with `manage.py check` (and every management command that runs checks), and wsgi.py calls
`refuse_unsafe_production_start()` so gunicorn will not serve either. The demo-user rule is registered under its
own tag, so that `manage.py delete_demo_users`, the command that removes them, can run every check but that one.
"""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

DEMO_USERS_TAG = "portal_demo_users"


def _demo_users_present() -> bool:
    from django.contrib.auth import get_user_model

    try:
        return get_user_model().objects.filter(username__in=settings.PORTAL["DEMO_USERNAMES"]).exists()
    except DatabaseError:  # tables not migrated yet: nothing to refuse
        return False


@checks.register(checks.Tags.security, deploy=False)
def production_settings_safety(app_configs=None, **kwargs):
    if not settings.PRODUCTION:
        return []
    errors = []
    if settings.SECRET_KEY == settings.INSECURE_DEFAULT_SECRET_KEY or len(settings.SECRET_KEY) < 40:
        errors.append(checks.Error("SECRET_KEY is the development default or too short.", id="portal.E001",
                                   hint="Set SECRET_KEY to a random value of 50+ characters."))
    if settings.DEBUG:
        errors.append(checks.Error("DEBUG is on in production.", id="portal.E002", hint="Unset DEBUG."))
    return errors


@checks.register(DEMO_USERS_TAG, deploy=False)
def production_without_demo_users(app_configs=None, **kwargs):
    if not settings.PRODUCTION or not _demo_users_present():
        return []
    return [checks.Error("The demo users (agent, manager, admin) exist in a production database.",
                         id="portal.E003", hint="Delete them: manage.py delete_demo_users.")]


def production_safety(app_configs=None, **kwargs):
    """Every production rule (the settings and the demo users)."""
    return production_settings_safety() + production_without_demo_users()


def refuse_unsafe_production_start() -> None:
    errors = production_safety()
    if errors:
        raise ImproperlyConfigured("Refusing to start: " + " ".join(e.msg for e in errors))


@checks.register(checks.Tags.database)
def audit_logs_are_append_only_for_this_role(app_configs=None, databases=None, **kwargs):
    """`check --database default` (and migrate): warn when the role the portal connects as could rewrite the audit
    or access log, i.e. it owns them or holds UPDATE, DELETE or TRUNCATE on them (README, "Security")."""
    from django.db import connection

    from portal.db_roles import APPEND_ONLY_TABLES, application_user

    if not databases or "default" not in databases or connection.settings_dict["USER"] != application_user():
        return []  # not asked for, or running as the owner on purpose (migrate)
    try:
        with connection.cursor() as cursor:
            cursor.execute("""
                SELECT c.relname FROM pg_class c
                WHERE c.relname = ANY(%s) AND (pg_get_userbyid(c.relowner) = current_user
                      OR has_table_privilege(c.oid, 'UPDATE') OR has_table_privilege(c.oid, 'DELETE')
                      OR has_table_privilege(c.oid, 'TRUNCATE'))""", [list(APPEND_ONLY_TABLES)])
            exposed = [name for (name,) in cursor.fetchall()]
    except DatabaseError:
        return []
    if not exposed:
        return []
    return [checks.Warning(
        f"The portal connects as a database role that can rewrite {', '.join(exposed)}.", id="portal.W010",
        hint="Connect with a role that owns nothing (DATABASE_URL) and run migrations with the owner "
             "(DATABASE_OWNER_URL); README, Security.")]
