"""Money fixtures that go through the real services and the sandbox gateway, so the sandbox's books and the
portal's rows start out agreeing."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from payments.charges import invoice_charge
from payments.models import Invoice, Payment
from tests.factories import CustomerFactory, InvoiceFactory, PaymentMethodFactory


def card_customer(*, card: str = "pm_card_visa", currency: str = "USD", **customer_fields):
    """A web customer whose default method is a sandbox test card."""
    customer = CustomerFactory(currency=currency, **customer_fields)
    PaymentMethodFactory(customer=customer, gateway="sandbox", gateway_ref=card, is_default=True)
    return customer


def open_invoice(customer, *, amount: int = 10_000, **fields) -> Invoice:
    return InvoiceFactory(customer=customer, status=Invoice.Status.OPEN, subtotal=amount, currency=customer.currency,
                          **fields)


def captured_payment(*, amount: int = 10_000, days_ago: int = 0, customer=None, actor=None) -> Payment:
    """A payment charged through the sandbox (call with no transaction open: transactional tests, or inside
    django_capture_on_commit_callbacks(execute=True))."""
    customer = customer or card_customer()
    invoice = open_invoice(customer, amount=amount)
    attempt = invoice_charge(invoice=invoice, actor=actor, why="test")
    payment = Payment.objects.get(pk=attempt.payment.pk)
    assert payment.status == Payment.Status.SUCCEEDED, payment.failure_message
    if days_ago:
        Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
        payment.refresh_from_db()
    return payment
