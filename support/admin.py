"""Email templates are configuration: admins edit them in Django's admin (audited by portal/admin.py).

Email messages are not registered: they hold customers' addresses and texts, which are read on the customer's
profile (access-logged), not in the admin.
"""

from django.contrib import admin

from portal.roles import Cap, has_capability
from support.forms import EmailTemplateForm
from support.models import EmailTemplate


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    form = EmailTemplateForm
    list_display = ("name", "code", "marketing", "active", "updated_at")
    list_filter = ("marketing", "active")
    search_fields = ("name", "code", "subject")
    ordering = ("name",)

    # Templates are the Admin role's configuration: its capability, not per-model permissions, opens them.
    def has_module_permission(self, request):
        return has_capability(request.user, Cap.CONFIGURE)

    def has_view_permission(self, request, obj=None):
        return has_capability(request.user, Cap.CONFIGURE)

    def has_add_permission(self, request):
        return has_capability(request.user, Cap.CONFIGURE)

    def has_change_permission(self, request, obj=None):
        return has_capability(request.user, Cap.CONFIGURE)

    def has_delete_permission(self, request, obj=None):
        """Sent emails keep their template: switch a template off instead of deleting it."""
        return False
