"""Pages of the support app, under a customer's profile URL (/customers/<cus_…>/emails/…)."""

from django.urls import path

from support import views

app_name = "support"

customer_patterns = [
    path("emails/new/", views.email_new, name="email_new"),
    path("emails/preview/", views.email_preview, name="email_preview"),
    path("emails/send/", views.email_send, name="email_send"),
]
