"""Every JSON endpoint under /api/v1/, gathered from the apps."""

from django.urls import include, path, re_path

from portal import approval_api, api_views

urlpatterns = [
    path("me", api_views.me, name="api_me"),
    path("", include("customers.api_urls")),
    path("", include("payments.api_urls")),
    path("", include("support.api_urls")),
    path("", include("support.escalation_api_urls")),
    path("", include("subscriptions.api_urls")),
    path("approvals", approval_api.approval_list, name="api_approval_list"),
    re_path(r"^approvals/(?P<approval_id>[^/]+)$", approval_api.approval_detail, name="api_approval_detail"),
    re_path(r"^approvals/(?P<approval_id>[^/]+)/approve$", approval_api.approval_approve, name="api_approval_approve"),
    re_path(r"^approvals/(?P<approval_id>[^/]+)/reject$", approval_api.approval_reject, name="api_approval_reject"),
]
