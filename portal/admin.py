"""Django admin, audited: every add, change and delete made there writes an AuditEvent like any other change.

The project's admin site (`PortalAdminSite`, installed by `portal.apps.PortalAdminConfig`) gives every ModelAdmin
registered on it, ours and third-party apps' (users, groups, periodic tasks, …), the `AuditedAdminMixin`, so a
model added to the admin later is audited without anyone remembering to.

The audit row names the fields that changed and never copies their values (emails, password hashes, free text).
Django's own LogEntry (the admin's history page) is still written as well.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from django.contrib import admin

from portal.audit import audit_record

# Form fields that stand for one model field: setting a password through the admin's password form.
_FIELD_ALIASES = {"password1": "password", "password2": "password", "usable_password": "password"}


def _field_names(form, formsets) -> list[str]:
    names = [_FIELD_ALIASES.get(name, name) for name in form.changed_data]
    names += [formset.prefix for formset in formsets or () if formset.has_changed()]  # inlines, by their prefix
    return list(dict.fromkeys(names))


class AuditedAdminMixin:
    """Writes one audit row per object the admin adds, changes or deletes (`admin.<app>.<model>.<verb>`)."""

    # The admin builds the change message (from the form) just before it logs the change; the field names are
    # kept per request until then.
    _changed_fields: WeakKeyDictionary = WeakKeyDictionary()

    def construct_change_message(self, request, form, formsets, add=False):
        self._changed_fields[request] = _field_names(form, formsets)
        return super().construct_change_message(request, form, formsets, add)

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        self._audit(request, obj, "added", self._changed_fields.pop(request, []))
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        self._audit(request, obj, "changed", self._changed_fields.pop(request, []))
        return entry

    def log_deletions(self, request, queryset):
        objects = list(queryset)  # called before the deletion, while the rows and their keys still exist
        entries = super().log_deletions(request, objects)
        for obj in objects:
            self._audit(request, obj, "deleted", [])
        return entries

    def _audit(self, request, obj, verb: str, fields: list[str]) -> None:
        opts = obj._meta
        # The label names the object on the audit page (a username, a group or task name: the admin registers no
        # model with a customer's data, tests/test_access_log_walk.py), since its key alone says nothing to a reader.
        data = {"label": str(obj)[:80], **({"fields": fields} if verb != "deleted" else {})}
        audit_record(actor=request.user, action=f"admin.{opts.app_label}.{opts.model_name}.{verb}", obj=obj,
                     data=data)


class AuditedModelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """The base for the project's own ModelAdmins (the site would add the mixin anyway)."""


class PortalAdminSite(admin.AdminSite):
    site_header = "Customer portal administration"
    site_title = "Customer portal admin"

    def has_permission(self, request):
        """Configuration is the admin role's: staff status alone does not open the admin."""
        from portal.roles import Cap, has_capability

        return super().has_permission(request) and has_capability(request.user, Cap.CONFIGURE)

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = audited(admin_class or admin.ModelAdmin)
        return super().register(model_or_iterable, admin_class, **options)


def audited(admin_class: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """`admin_class` with the audit mixin in front (itself when it already has it)."""
    if issubclass(admin_class, AuditedAdminMixin):
        return admin_class
    return type(f"Audited{admin_class.__name__}", (AuditedAdminMixin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__})
