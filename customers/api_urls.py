from django.urls import path

from customers.api import directory, profile

urlpatterns = [
    # Directory
    path("customers", directory.customer_list, name="api_customer_list"),
    # Profile
    path("customers/<str:public_id>", profile.customer_detail, name="api_customer_detail"),
    path("customers/<str:public_id>/payments", profile.customer_payments_list, name="api_customer_payments"),
    path("customers/<str:public_id>/activity", profile.customer_activity_list, name="api_customer_activity"),
    path("customers/<str:public_id>/notes", profile.customer_notes_list, name="api_customer_notes"),
    path("customers/<str:public_id>/tags", profile.customer_tag_add, name="api_customer_tags"),
    path("customers/<str:public_id>/tags/<str:name>", profile.customer_tag_remove, name="api_customer_tag"),
]
