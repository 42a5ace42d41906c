"""Where payment providers post their events: signed, with no sign-in and no CSRF token (payments/webhooks.py)."""

from django.urls import path

from payments import webhooks

app_name = "webhooks"

urlpatterns = [
    path("stripe/", webhooks.stripe_webhook, name="stripe"),
]
