"""Retrying a failed payment: one idempotent attempt on the current default method, credit first, faults."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import CustomerMetrics
from payments import gateway_calls
from payments.charges import invoice_charge, payment_retry, retry_verdict
from payments.credit import credit_grant
from payments.gateways import sandbox
from payments.models import CreditEntry, Invoice, Payment, PaymentMethod, SandboxOperation
from portal.errors import DomainError
from subscriptions.models import Subscription
from tests.factories import SubscriptionFactory
from tests.payments.factories import card_customer, open_invoice


def _failed(customer, *, amount=10_000, hard=False, invoice=None):
    """A charge that failed at the sandbox with the customer's current card."""
    invoice = invoice or open_invoice(customer, amount=amount)
    sandbox.arm_fault("decline", operation="charge") if not hard else None
    attempt = invoice_charge(invoice=invoice, actor=None, why="renewal")
    payment = Payment.objects.get(pk=attempt.payment.pk)
    assert payment.status == "failed"
    if hard:
        assert payment.decline_type == "hard"
    return payment


def _sandbox_charged(invoice) -> int:
    refs = Payment.objects.filter(invoice=invoice).values_list("gateway_ref", flat=True)
    return sum(SandboxOperation.objects.filter(kind="charge", ref__in=list(refs), status="succeeded")
               .values_list("amount", flat=True))


def test_a_soft_decline_retried_succeeds_once_and_settles_the_invoice(people):
    ann, _, _ = people
    customer = card_customer()
    subscription = SubscriptionFactory(customer=customer, status=Subscription.Status.GRACE)
    invoice = open_invoice(customer, subscription=subscription)
    failed = _failed(customer, invoice=invoice)
    attempt = payment_retry(payment=failed, actor=ann)
    retry = Payment.objects.get(pk=attempt.payment.pk)
    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert retry.status == "succeeded" and retry.attempt == failed.attempt + 1
    assert invoice.status == Invoice.Status.PAID and _sandbox_charged(invoice) == 10_000
    assert subscription.status == "active"
    assert CustomerMetrics.objects.get(customer=customer).total_paid == 10_000
    with pytest.raises(DomainError, match="nothing is left to collect|newer attempt"):
        payment_retry(payment=failed, actor=ann)


def test_after_a_hard_decline_retry_waits_for_a_new_method(people):
    ann, _, _ = people
    customer = card_customer(card="pm_card_chargeDeclined")
    failed = _failed(customer, hard=True)
    verdict = retry_verdict(failed, actor=ann)
    assert verdict.refused and verdict.code == "hard_decline" and "card-update link" in verdict.reason
    with pytest.raises(DomainError, match="declined for good"):
        payment_retry(payment=failed, actor=ann)
    PaymentMethod.objects.filter(customer=customer).update(is_default=False)
    PaymentMethod.objects.create(customer=customer, kind="card", brand="visa", last4="4242", is_default=True,
                                 gateway="sandbox", gateway_ref="pm_card_visa", created_at=timezone.now())
    assert retry_verdict(failed, actor=ann).allowed
    assert Payment.objects.get(pk=payment_retry(payment=failed, actor=ann).payment.pk).status == "succeeded"


def test_credit_pays_first_and_only_the_rest_is_charged(people):
    ann, _, _ = people
    customer = card_customer()
    failed = _failed(customer, amount=10_000)
    credit_grant(customer=customer, amount=3_000, reason="Outage", actor=ann)
    attempt = payment_retry(payment=failed, actor=ann)
    assert attempt.credit_applied == 3_000
    assert Payment.objects.get(pk=attempt.payment.pk).amount == 7_000
    assert CreditEntry.objects.filter(customer=customer, kind="applied", amount=3_000).exists()
    assert Invoice.objects.get(pk=failed.invoice_id).status == "paid"


def test_credit_that_covers_everything_charges_nothing(people):
    ann, _, _ = people
    customer = card_customer()
    failed = _failed(customer, amount=1_000)
    credit_grant(customer=customer, amount=5_000, reason="Outage", actor=ann)
    attempt = payment_retry(payment=failed, actor=ann)
    assert attempt.payment is None and attempt.credit_applied == 1_000
    assert Invoice.objects.get(pk=failed.invoice_id).status == "paid"


def test_the_same_retry_twice_charges_once(people):
    ann, _, _ = people
    customer = card_customer()
    failed = _failed(customer)
    first = payment_retry(payment=failed, actor=ann, request_key="form:1:xyz")
    again = payment_retry(payment=failed, actor=ann, request_key="form:1:xyz")
    assert again.replayed and again.payment.pk == first.payment.pk
    assert _sandbox_charged(failed.invoice) == 10_000


@pytest.mark.parametrize("fault, charged", [("timeout", False), ("succeed_then_timeout", True)])
def test_a_charge_timeout_is_unknown_then_reconciled(people, fault, charged):
    ann, _, _ = people
    customer = card_customer()
    failed = _failed(customer)
    sandbox.arm_fault(fault, operation="charge")
    retry = Payment.objects.get(pk=payment_retry(payment=failed, actor=ann).payment.pk)
    assert retry.status == "unknown"
    assert retry_verdict(failed, actor=ann).code == "in_progress"
    gateway_calls.reconcile_unsettled(now=timezone.now() + timedelta(minutes=5))
    retry.refresh_from_db()
    assert retry.status == ("succeeded" if charged else "failed")
    assert _sandbox_charged(failed.invoice) == (10_000 if charged else 0)
    assert Invoice.objects.get(pk=failed.invoice_id).status == ("paid" if charged else "open")


def test_a_gateway_error_charges_nothing_and_may_be_retried(people):
    ann, _, _ = people
    customer = card_customer()
    failed = _failed(customer)
    sandbox.arm_fault("error", operation="charge")
    retry = Payment.objects.get(pk=payment_retry(payment=failed, actor=ann).payment.pk)
    assert retry.status == "failed" and retry.decline_type == "soft" and _sandbox_charged(failed.invoice) == 0
    assert retry_verdict(retry, actor=ann).allowed


def test_refused_retries_say_why(people):
    ann, _, _ = people
    customer = card_customer()
    failed = _failed(customer)
    PaymentMethod.objects.filter(customer=customer).delete()
    assert retry_verdict(failed, actor=ann).code == "no_method"
    succeeded = Payment.objects.create(customer=customer, amount=1, currency="USD", status="succeeded",
                                       created_at=timezone.now())
    assert retry_verdict(succeeded, actor=ann).code == "not_failed"
