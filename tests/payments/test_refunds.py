"""Refunds end to end: the policy's three answers, the approval path, the gateway's faults, double submits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import ActivityEvent, CustomerMetrics, Storefront
from payments import gateway_calls
from payments.gateways import sandbox
from payments.models import Payment, PaymentMethod, Refund, SandboxOperation
from payments.refunds import refund_issue
from portal.approvals import approval_approve, approval_reject
from portal.errors import DomainError
from portal.models import Approval, AuditEvent
from tests.factories import CustomerFactory, PaymentFactory, PlanFactory, StorefrontFactory, SubscriptionFactory
from tests.payments.factories import captured_payment, card_customer


def _refund(payment, amount, actor, **kwargs):
    return refund_issue(payment=payment, amount=amount, reason_code="requested_by_customer", actor=actor, **kwargs)


def _sandbox_refunded(payment) -> int:
    return sum(SandboxOperation.objects.filter(kind="refund", parent_ref=payment.gateway_ref, status="succeeded")
               .values_list("amount", flat=True))


def test_it_refunds_part_now_and_keeps_the_books(people):
    ann, _, _ = people
    payment = captured_payment(amount=10_000)
    result = _refund(payment, 2_500, ann)
    refund = Refund.objects.get(pk=result.refund.pk)
    payment.refresh_from_db()
    assert result.approval is None and refund.status == Refund.Status.SUCCEEDED and refund.gateway_ref
    assert (payment.amount_refunded, payment.amount_refund_pending, payment.status) == (2_500, 0, "partially_refunded")
    assert payment.refundable_amount() == 7_500 == payment.amount - _sandbox_refunded(payment)
    metrics = CustomerMetrics.objects.get(customer_id=payment.customer_id)
    assert (metrics.total_paid, metrics.lifetime_value) == (10_000, 7_500)
    assert AuditEvent.objects.filter(action="payments.refund.created", object_id=refund.public_id).count() == 1
    assert ActivityEvent.objects.filter(customer_id=payment.customer_id, payload__refund=refund.public_id).count() == 2


def test_several_partials_up_to_the_captured_amount_then_nothing(people):
    ann, _, _ = people
    payment = captured_payment(amount=3_000)
    for amount in (1_000, 1_000, 1_000):
        _refund(payment, amount, ann)
    payment.refresh_from_db()
    assert payment.status == "refunded" and payment.refundable_amount() == 0
    with pytest.raises(DomainError, match="Nothing is left to refund"):
        _refund(payment, 1, ann)


def test_more_than_is_left_is_refused_with_the_remaining_amount(people):
    ann, _, _ = people
    payment = captured_payment(amount=3_000)
    _refund(payment, 2_000, ann)
    with pytest.raises(DomainError, match=r"Only \$10\.00 can still be refunded"):
        _refund(payment, 1_001, ann)
    assert Refund.objects.count() == 1


def test_outside_the_window_goes_to_approval_and_holds_the_amount(people):
    ann, max_, _ = people
    payment = captured_payment(amount=10_000, days_ago=45)
    result = _refund(payment, 4_000, ann)
    assert result.refund is None and result.approval.status == "pending"
    assert "45 days ago, outside the 30-day refund window" in result.approval.verdict
    payment.refresh_from_db()
    assert payment.amount_refund_pending == 4_000 and payment.refundable_amount() == 6_000
    assert not SandboxOperation.objects.filter(kind="refund").exists()

    approval_approve(approval=result.approval, actor=max_, comment="Goodwill")
    refund = Refund.objects.get(payment=payment)
    payment.refresh_from_db()
    assert refund.status == "succeeded" and payment.amount_refunded == 4_000 and payment.amount_refund_pending == 0
    assert refund.created_by == ann and _sandbox_refunded(payment) == 4_000
    assert ActivityEvent.objects.filter(customer_id=payment.customer_id, summary__contains="approved by max").exists()


def test_a_rejected_request_gives_the_amount_back(people):
    ann, max_, _ = people
    payment = captured_payment(amount=10_000, days_ago=45)
    approval = _refund(payment, 4_000, ann).approval
    approval_reject(approval=approval, actor=max_, comment="Outside policy, offered credit instead")
    payment.refresh_from_db()
    assert payment.amount_refund_pending == 0 and payment.refundable_amount() == 10_000
    assert not Refund.objects.exists()


def test_over_the_agents_limit_needs_approval_but_a_manager_may(people):
    ann, max_, _ = people
    payment = captured_payment(amount=50_000)
    assert _refund(payment, 20_000, ann).approval is not None  # the agent's limit is $100.00
    assert _refund(payment, 20_000, max_).refund is not None  # the manager's is $1,000.00


def test_the_requester_can_never_approve_their_own(people):
    _, max_, mia = people
    payment = captured_payment(amount=500_000)
    approval = _refund(payment, 200_000, max_).approval  # over even a manager's limit
    with pytest.raises(DomainError):
        approval_approve(approval=approval, actor=max_)
    approval_approve(approval=approval, actor=mia)
    assert Refund.objects.get(payment=payment).status == "succeeded"


def test_approval_rechecks_a_payment_disputed_meanwhile(people):
    ann, max_, _ = people
    payment = captured_payment(amount=10_000, days_ago=45)
    approval = _refund(payment, 4_000, ann).approval
    Payment.objects.filter(pk=payment.pk).update(disputed=True)
    with pytest.raises(DomainError, match="disputed"):
        approval_approve(approval=approval, actor=max_)
    approval.refresh_from_db()
    payment.refresh_from_db()
    assert approval.status == "failed" and "disputed" in approval.failure_message
    assert payment.amount_refund_pending == 0 and not Refund.objects.exists()


@pytest.mark.parametrize("kind, where", [("app_store", "App Store Connect"), ("google_play", "Google Play Console")])
def test_app_store_payments_are_refused_with_where_to_do_it(people, kind, where):
    ann, _, _ = people
    customer = CustomerFactory(storefront=StorefrontFactory(code=kind, kind=kind))
    method = PaymentMethod.objects.create(customer=customer, kind=kind, is_default=True, gateway=kind,
                                          created_at=timezone.now())
    payment = PaymentFactory(customer=customer, payment_method=method, gateway=kind)
    with pytest.raises(DomainError, match=f"refund this in .*{where}"):
        _refund(payment, 100, ann)


def test_disputed_and_uncaptured_payments_are_refused(people):
    ann, _, _ = people
    disputed = PaymentFactory(disputed=True)
    with pytest.raises(DomainError, match="is disputed"):
        _refund(disputed, 100, ann)
    failed = PaymentFactory(status=Payment.Status.FAILED)
    with pytest.raises(DomainError, match="only captured payments"):
        _refund(failed, 100, ann)


def test_window_comes_from_the_plan_then_the_storefront_then_the_default(people):
    from payments.policy import payment_rules, refund_window

    rules = payment_rules()
    short_shop = StorefrontFactory(code="short", refund_window_days=7)
    payment = PaymentFactory(customer=CustomerFactory(storefront=short_shop))
    assert refund_window(payment, rules)[0] == 7
    plan = PlanFactory(code="yearly", refund_window_days=60)
    payment.invoice.subscription = SubscriptionFactory(customer=payment.customer, plan=plan)
    assert refund_window(payment, rules)[0] == 60
    assert refund_window(PaymentFactory(), rules)[0] == 30


def test_the_same_form_twice_refunds_once_and_another_amount_is_refused(people):
    ann, _, _ = people
    payment = captured_payment(amount=10_000)
    first = _refund(payment, 1_000, ann, request_key="form:1:abc")
    again = _refund(payment, 1_000, ann, request_key="form:1:abc")
    assert again.replayed and again.refund.pk == first.refund.pk
    with pytest.raises(DomainError, match="different values"):
        _refund(payment, 2_000, ann, request_key="form:1:abc")
    assert Refund.objects.count() == 1 and SandboxOperation.objects.filter(kind="refund").count() == 1


# ---- Gateway faults: the database matches the gateway afterwards -----------------------------------------------

def test_a_declined_refund_gives_the_amount_back(people):
    ann, _, _ = people
    payment = captured_payment(amount=10_000)
    sandbox.arm_fault("decline", operation="refund")
    refund = Refund.objects.get(pk=_refund(payment, 1_000, ann).refund.pk)
    payment.refresh_from_db()
    assert refund.status == "failed" and refund.failure_message
    assert payment.amount_refund_pending == 0 and payment.amount_refunded == 0 == _sandbox_refunded(payment)


def test_a_gateway_error_refunds_nothing(people):
    ann, _, _ = people
    payment = captured_payment(amount=10_000)
    sandbox.arm_fault("error", operation="refund")
    refund = Refund.objects.get(pk=_refund(payment, 1_000, ann).refund.pk)
    payment.refresh_from_db()
    assert refund.status == "failed" and payment.refundable_amount() == 10_000 and _sandbox_refunded(payment) == 0


@pytest.mark.parametrize("fault, refunded_at_gateway", [("timeout", False), ("succeed_then_timeout", True)])
def test_a_timeout_is_unknown_until_reconciliation_asks(people, fault, refunded_at_gateway):
    ann, _, _ = people
    payment = captured_payment(amount=10_000)
    sandbox.arm_fault(fault, operation="refund")
    refund = Refund.objects.get(pk=_refund(payment, 1_000, ann).refund.pk)
    payment.refresh_from_db()
    assert refund.status == "unknown" and payment.amount_refund_pending == 1_000 and payment.refundable_amount() == 9_000

    counts = gateway_calls.reconcile_unsettled(now=timezone.now() + timedelta(minutes=5))
    assert counts["refunds_checked"] == 1
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == ("succeeded" if refunded_at_gateway else "failed")
    assert payment.amount_refunded == _sandbox_refunded(payment) == (1_000 if refunded_at_gateway else 0)
    assert payment.amount_refund_pending == 0
    # Reconciling again changes nothing, and the gateway saw one refund at most.
    gateway_calls.reconcile_unsettled(now=timezone.now() + timedelta(minutes=10))
    assert SandboxOperation.objects.filter(kind="refund").count() == (1 if refunded_at_gateway else 0)
    assert AuditEvent.objects.filter(object_id=refund.public_id).count() == 3  # created, unknown, settled


def test_an_intent_orphaned_by_a_dead_process_is_submitted_by_reconciliation(people):
    ann, _, _ = people
    payment = captured_payment(amount=10_000)
    Refund.objects.create(payment=payment, amount=700, currency="USD", status="pending", reason_code="other",
                          idempotency_key="refund-orphan", created_at=timezone.now() - timedelta(minutes=5))
    Payment.objects.filter(pk=payment.pk).update(amount_refund_pending=700)
    gateway_calls.reconcile_unsettled()
    payment.refresh_from_db()
    assert payment.amount_refunded == 700 == _sandbox_refunded(payment)
