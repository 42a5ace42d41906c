from django.urls import path

from support import api

urlpatterns = [
    path("customers/<str:public_id>/emails", api.customer_emails_list, name="api_customer_emails"),
]
