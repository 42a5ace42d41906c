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
