from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


def _after_migrate(sender, using, **kwargs) -> None:
    """Once per `migrate`, as the owner: the broker's tables, then the application role's privileges on all."""
    from django.conf import settings
    from django.db import connections

    from portal.broker import create_broker_tables
    from portal.db_roles import grant_application_privileges

    connection = connections[using]
    if not settings.REDIS_URL:  # the broker and results on Postgres (make run), or its tests
        create_broker_tables({**connection.settings_dict})
    grant_application_privileges(connection)


class PortalConfig(AppConfig):
    default = True  # the app's config; PortalAdminConfig below is installed by its dotted path
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal import checks  # noqa: F401  (registers the system checks)
        from portal import disclosures  # noqa: F401  (registers what carries customer data, for the access log)

        post_migrate.connect(_after_migrate, sender=self, dispatch_uid="portal.after_migrate")


class PortalAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the project's site: every change made there is audited (portal/admin.py)."""

    default = False
    default_site = "portal.admin.PortalAdminSite"
