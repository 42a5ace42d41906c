"""Account credit: a ledger with limits and approvals; the balance never goes below zero."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from payments.credit import credit_balance, credit_debit, credit_grant
from payments.models import CreditEntry
from portal.approvals import approval_approve
from portal.errors import DomainError
from tests.factories import CustomerFactory, UserFactory


@pytest.fixture
def staff(db):
    return UserFactory(username="ann", role="Agent"), UserFactory(username="max", role="Manager")


def test_grants_and_debits_are_ledger_entries(staff):
    ann, _ = staff
    customer = CustomerFactory()
    credit_grant(customer=customer, amount=2_000, reason="Outage", actor=ann)
    credit_debit(customer=customer, amount=500, reason="Granted twice by mistake", actor=ann)
    assert credit_balance(customer.pk) == 1_500
    assert list(CreditEntry.objects.filter(customer=customer).values_list("kind", "amount").order_by("pk")) == [
        ("grant", 2_000), ("debit", 500)]
    with pytest.raises(DomainError, match="cannot take it below zero"):
        credit_debit(customer=customer, amount=1_501, reason="Too much", actor=ann)


def test_over_the_limit_a_grant_waits_for_a_manager(staff):
    ann, max_ = staff
    customer = CustomerFactory()
    result = credit_grant(customer=customer, amount=10_000, reason="Big goodwill", actor=ann)  # agent limit $50
    assert result.entry is None and result.approval.status == "pending" and credit_balance(customer.pk) == 0
    approval_approve(approval=result.approval, actor=max_)
    assert credit_balance(customer.pk) == 10_000
    assert CreditEntry.objects.get(customer=customer).created_by == ann


@pytest.mark.parametrize("amount, reason", [(0, "x"), (-5, "x"), (100, ""), (100, "x" * 300), (10**11, "x")])
def test_bad_input_changes_nothing(staff, amount, reason):
    ann, _ = staff
    customer = CustomerFactory()
    with pytest.raises(DomainError):
        credit_grant(customer=customer, amount=amount, reason=reason, actor=ann)
    assert not CreditEntry.objects.exists()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["grant", "debit"]), st.integers(min_value=-10, max_value=6_000)),
                max_size=12))
def test_no_sequence_makes_the_balance_negative(staff, steps):
    ann, _ = staff
    customer = CustomerFactory()
    expected = 0
    for kind, amount in steps:
        change = credit_grant if kind == "grant" else credit_debit
        try:
            result = change(customer=customer, amount=amount, reason="step", actor=ann)
        except DomainError:
            continue
        if result.entry is None:  # over the agent's limit: waiting for a manager, the balance unchanged
            continue
        expected += amount if kind == "grant" else -amount
        assert credit_balance(customer.pk) == expected >= 0
    assert credit_balance(customer.pk) == expected
