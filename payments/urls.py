"""Pages of the payments app: invoices (/invoices/…), the money actions on a payment (/payments/<pay_…>/…) and
on a customer's account (/customers/<cus_…>/credit/…)."""

from django.urls import include, path, re_path

from payments import action_views, views

app_name = "payments"

invoice_patterns = [
    path("", views.invoice_detail, name="invoice"),
    path("pdf", views.invoice_pdf, name="invoice_pdf"),
]

payment_patterns = [
    path("refund/", action_views.refund_new, name="refund_new"),
    path("refund/preview/", action_views.refund_preview, name="refund_preview"),
    path("refunds/", action_views.refund_create, name="refund_create"),
    path("retry/", action_views.retry_create, name="retry"),
]

customer_patterns = [
    path("credit/", action_views.credit_new, name="credit_new"),
    path("credit/save/", action_views.credit_create, name="credit_create"),
]

urlpatterns = [
    path("invoices/<str:public_id>/", include(invoice_patterns)),
    re_path(r"^payments/(?P<public_id>pay_[0-9a-z]+)/", include(payment_patterns)),
    re_path(r"^customers/(?P<public_id>cus_[0-9a-z]+)/", include(customer_patterns)),
]
