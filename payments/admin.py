"""Configuration of refunds and credit: the refund window default and the limits per role, edited by admins in
Django's admin (audited by portal/admin.py). Plans and storefronts carry their own refund windows.

Payments, refunds and ledger entries are not registered: they change only through the payment services."""

from django.contrib import admin

from customers.models import Storefront
from payments.models import PaymentRules
from portal.roles import Cap, has_capability
from subscriptions.models import Plan


class ConfigurationAdmin(admin.ModelAdmin):
    """Configuration is the Admin role's: its capability, not per-model permissions, opens it."""

    def has_module_permission(self, request):
        return has_capability(request.user, Cap.CONFIGURE)

    def has_view_permission(self, request, obj=None):
        return has_capability(request.user, Cap.CONFIGURE)

    def has_change_permission(self, request, obj=None):
        return has_capability(request.user, Cap.CONFIGURE)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PaymentRules)
class PaymentRulesAdmin(ConfigurationAdmin):
    list_display = ("__str__", "default_refund_window_days", "agent_refund_limit", "manager_refund_limit",
                    "agent_credit_limit", "manager_credit_limit", "updated_at")

    def changelist_view(self, request, extra_context=None):
        from payments.policy import payment_rules

        payment_rules()  # the one row exists from the first visit, with the environment's defaults
        return super().changelist_view(request, extra_context)


@admin.register(Plan)
class PlanRefundWindowAdmin(ConfigurationAdmin):
    list_display = ("name", "code", "price", "currency", "interval", "refund_window_days", "is_active")
    fields = ("name", "refund_window_days", "is_active")
    readonly_fields = ("name",)


@admin.register(Storefront)
class StorefrontRefundWindowAdmin(ConfigurationAdmin):
    list_display = ("name", "code", "kind", "refund_window_days")
    fields = ("name", "kind", "refund_window_days")
    readonly_fields = ("name", "kind")
