from django.urls import path

from support import api

urlpatterns = [
    path("customers/<str:public_id>/emails", api.customer_emails_list, name="api_customer_emails"),
    path("customers/<str:public_id>/tickets", api.customer_tickets_list, name="api_customer_tickets"),
    path("tickets", api.tickets_list, name="api_tickets"),
    path("tickets/<str:public_id>", api.ticket_detail, name="api_ticket"),
    path("tickets/<str:public_id>/comments", api.ticket_comments, name="api_ticket_comments"),
    path("tickets/<str:public_id>/status", api.ticket_status, name="api_ticket_status"),
    path("tickets/<str:public_id>/priority", api.ticket_priority, name="api_ticket_priority"),
    path("tickets/<str:public_id>/assign", api.ticket_assign, name="api_ticket_assign"),
]
