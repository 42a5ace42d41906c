from django.urls import path

from payments import api

urlpatterns = [
    path("payments/<str:public_id>", api.payment_detail, name="api_payment_detail"),
    path("payments/<str:public_id>/refunds", api.payment_refunds, name="api_payment_refunds"),
    path("payments/<str:public_id>/retry", api.payment_retry_endpoint, name="api_payment_retry"),
    path("customers/<str:public_id>/credits", api.customer_credits, name="api_customer_credits"),
]
