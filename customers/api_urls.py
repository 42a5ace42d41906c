from django.urls import path

from customers import api

urlpatterns = [
    path("customers", api.customer_list, name="api_customer_list"),
]
