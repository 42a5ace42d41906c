from django.urls import path

from payments import api

urlpatterns = [
    path("customers/<str:public_id>/payment-method-link", api.customer_card_link, name="api_customer_card_link"),
]
