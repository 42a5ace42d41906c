from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PortalConfig(AppConfig):
    default = True  # the app's config; PortalAdminConfig below is installed by its dotted path
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal import checks  # noqa: F401  (registers the production checks)


class PortalAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the project's site: every change made there is audited (portal/admin.py)."""

    default = False
    default_site = "portal.admin.PortalAdminSite"
