from django.urls import path

from customers.views import directory

app_name = "customers"

urlpatterns = [
    # Directory (search, filters, list)
    path("", directory.directory, name="directory"),
    # Profile
]
