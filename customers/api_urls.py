from django.urls import path

from customers.api import directory

urlpatterns = [
    # Directory
    path("customers", directory.customer_list, name="api_customer_list"),
    # Profile
]
