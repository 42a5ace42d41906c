"""Hypothesis over refunds: whatever sequence of partial refunds, settlements and failures, the refundable amount
is never negative, the refunded total never exceeds the captured amount, and every figure is a whole number of
minor units. Runs the real services against a payment the sandbox never charged (refunds of such legacy payments
are accepted by the sandbox), with gateway faults mixed in."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from payments import gateway_calls
from payments.gateways import sandbox
from payments.models import Payment, Refund
from payments.refunds import refund_issue
from portal.errors import DomainError
from portal.money import InvalidAmount, decimal_text, parse_amount
from tests.factories import PaymentFactory, UserFactory

FAULTS = [None, None, None, "decline", "error", "timeout", "succeed_then_timeout"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(captured=st.integers(min_value=1, max_value=50_000),
       steps=st.lists(st.tuples(st.integers(min_value=-5, max_value=60_000), st.sampled_from(FAULTS)), max_size=8))
def test_refunds_never_exceed_the_capture(money_db, captured, steps):
    manager = UserFactory(role="Manager")
    payment = PaymentFactory(amount=captured, gateway="sandbox", gateway_ref=f"ch_legacy_{captured}")
    for amount, fault in steps:
        if fault:
            sandbox.arm_fault(fault, operation="refund")
        try:
            refund_issue(payment=payment, amount=amount, reason_code="other", actor=manager)
        except DomainError:
            pass
        payment.refresh_from_db()
        assert 0 <= payment.amount_refunded + payment.amount_refund_pending <= payment.amount
        assert payment.refundable_amount() >= 0
    gateway_calls.reconcile_unsettled(now=payment.created_at.replace(year=payment.created_at.year + 1))
    payment = Payment.objects.get(pk=payment.pk)
    settled = sum(Refund.objects.filter(payment=payment, status="succeeded").values_list("amount", flat=True))
    assert payment.amount_refunded == settled <= payment.amount
    assert payment.amount_refund_pending == 0
    assert all(isinstance(value, int) for value in (payment.amount_refunded, payment.refundable_amount()))


@settings(max_examples=500, deadline=None)
@given(amount=st.integers(min_value=0, max_value=10**11), currency=st.sampled_from(["USD", "EUR", "JPY", "KWD"]))
def test_amount_text_round_trips_in_whole_minor_units(amount, currency):
    assert parse_amount(decimal_text(amount, currency), currency) == amount


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_any_text_is_an_amount_or_a_clear_refusal(text):
    try:
        value = parse_amount(text, "USD")
    except InvalidAmount as exc:
        assert str(exc)
    else:
        assert isinstance(value, int) and value >= 0
