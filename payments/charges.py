"""Charging a customer's outstanding invoice with their default method (minimal version: one attempt, no audit)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from payments.gateways import get_gateway
from payments.models import Invoice, Payment, PaymentMethod


def invoice_charge_outstanding(*, customer, **_) -> Payment | None:
    """Charge the oldest open invoice whose last payment failed, once; None when nothing is outstanding."""
    invoice = (Invoice.objects.filter(customer=customer, status=Invoice.Status.OPEN,
                                      payments__status=Payment.Status.FAILED)
               .order_by("issued_at", "id").first())
    method = PaymentMethod.objects.filter(customer=customer, is_default=True).first()
    if invoice is None or method is None:
        return None
    amount = invoice.total - invoice.credit_applied
    with transaction.atomic():
        payment = Payment.objects.create(customer=customer, invoice=invoice, payment_method=method, amount=amount,
                                         currency=invoice.currency, status=Payment.Status.PENDING,
                                         gateway=method.gateway, created_at=timezone.now())
    result = get_gateway(method.gateway).charge(amount=amount, currency=invoice.currency,
                                                customer_ref=method.gateway_customer_ref,
                                                method_ref=method.gateway_ref, key=payment.public_id, metadata={})
    with transaction.atomic():
        payment.status = result.outcome
        payment.gateway_ref, payment.failure_code, payment.failure_message = (result.ref, result.failure_code,
                                                                              result.failure_message)
        payment.save(update_fields=["status", "gateway_ref", "failure_code", "failure_message"])
        if result.outcome == "succeeded":
            Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.PAID, paid_at=timezone.now())
    return payment
