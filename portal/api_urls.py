"""Every JSON endpoint under /api/v1/, gathered from the apps."""

from django.urls import include, path

from portal import api_views

urlpatterns = [
    path("me", api_views.me, name="api_me"),
    path("", include("customers.api_urls")),
    path("", include("payments.api_urls")),
    path("", include("support.api_urls")),
    path("", include("support.escalation_api_urls")),
]
