"""Pages of the support app: the Tickets page and each ticket (/tickets/…), and what hangs off a customer's
profile URL (/customers/<cus_…>/emails/…, /customers/<cus_…>/tickets/new/)."""

from django.urls import include, path, re_path

from support import views

app_name = "support"

customer_patterns = [
    path("emails/new/", views.email_new, name="email_new"),
    path("emails/preview/", views.email_preview, name="email_preview"),
    path("emails/send/", views.email_send, name="email_send"),
    path("tickets/new/", views.ticket_new, name="ticket_new"),
]

ticket_patterns = [
    path("", views.ticket_page, name="ticket"),
    path("comments/", views.ticket_comment, name="ticket_comment"),
    path("status/", views.ticket_status, name="ticket_status"),
    path("priority/", views.ticket_priority, name="ticket_priority"),
    path("assign/", views.ticket_assign, name="ticket_assign"),
]

urlpatterns = [
    path("tickets/", views.tickets, name="tickets"),
    re_path(r"^tickets/(?P<ticket_id>tkt_[0-9a-z]+)/", include(ticket_patterns)),
    re_path(r"^customers/(?P<public_id>cus_[0-9a-z]+)/", include(customer_patterns)),
]
