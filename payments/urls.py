from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("<str:public_id>/", views.invoice_detail, name="invoice"),
    path("<str:public_id>/pdf", views.invoice_pdf, name="invoice_pdf"),
]
