from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from portal import approval_views, views

app_name = "portal"

# Under /api/ these answer with the API's JSON error body; elsewhere with the pages in templates/.
handler400 = "portal.error_views.bad_request"
handler403 = "portal.error_views.permission_denied"
handler404 = "portal.error_views.page_not_found"
handler500 = "portal.error_views.server_error"

portal_patterns = [
    path("audit/", views.audit_log, name="audit"),
    path("audit/access/", views.access_log, name="access_log"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/tokens/", views.api_token_create, name="api_token_create"),
    path("settings/tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("approvals/", approval_views.approvals_page, name="approvals"),
    path("approvals/badge/", approval_views.approvals_badge, name="approvals_badge"),
    re_path(r"^approvals/(?P<approval_id>apr_[0-9a-z]+)/approve/$", approval_views.approval_approve,
            name="approval_approve"),
    re_path(r"^approvals/(?P<approval_id>apr_[0-9a-z]+)/reject/$", approval_views.approval_reject,
            name="approval_reject"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/login/", views.PortalLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include((portal_patterns, "portal"))),
    path("customers/", include("customers.urls")),
    path("subscriptions/", include("subscriptions.urls")),  # actions on /subscriptions/<sub_…>/…, retention report
    path("", include("support.urls")),  # /tickets/…, and the support pages under /customers/<cus_…>/
    path("", include("payments.urls")),  # /invoices/…, /payments/<pay_…>/…, /customers/<cus_…>/credit/…
    path("", include("payments.card_link_urls")),  # /pay/card/<token>/, the send dialog under /customers/<cus_…>/
    path("webhooks/", include("payments.webhook_urls")),  # payment providers' signed events
    path("escalations/", include("support.escalation_urls")),
    path("api/v1/", include("portal.api_urls")),
    path("admin/", admin.site.urls),
]
