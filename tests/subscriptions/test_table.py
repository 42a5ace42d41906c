"""Every (state, action) pair of the transition table, carried out through the services: an allowed action lands in
its state with the right invoices and credit; a refused one raises the table's sentence and changes nothing (no
audit row, no timeline event, no row of money, the subscription and customer rows as they were)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from customers.models import Customer
from customers.services import derived_state
from payments.models import CreditEntry, Invoice
from subscriptions import services
from subscriptions.models import Subscription
from subscriptions.transitions import ACTION_RULES, ACTIONS, STATES
from tests.subscriptions.factories import snapshot, subscription_events, subscription_in

S = Subscription.Status


def _call(action: str, plans) -> tuple:
    return {
        "change_plan": (services.subscription_change_plan, {"plan": plans.team}),
        "cancel": (services.subscription_cancel, {"when": "now", "reason": "other"}),
        "undo_cancel": (services.subscription_cancel_undo, {}),
        "pause": (services.subscription_pause, {}),
        "resume": (services.subscription_resume, {}),
        "extend_trial": (services.subscription_extend_trial, {"days": 7}),
    }[action]


# What each allowed pair does: the state it lands in, the audit action, paid invoices and credit entries written,
# and anything else to check. A pair the table allows but a dynamic rule refuses names that refusal's code.
LANDS = {
    (S.TRIAL, "change_plan"): (S.TRIAL, "plan_changed", 0, lambda before, after: after.plan.code == "team"),
    (S.ACTIVE, "change_plan"): (S.ACTIVE, "plan_changed", 1, lambda before, after: after.plan.code == "team"),
    (S.TRIAL, "cancel"): (S.CANCELLED, "cancelled", 0, None),
    (S.ACTIVE, "cancel"): (S.CANCELLED, "cancelled", 0, None),
    (S.GRACE, "cancel"): "payment_pending",  # its invoice is in dunning: cancel waits for it
    (S.PAUSED, "cancel"): (S.CANCELLED, "cancelled", 0, None),
    (S.TRIAL, "undo_cancel"): (S.TRIAL, "cancel_undone", 0, lambda before, after: not after.cancel_at_period_end),
    (S.ACTIVE, "undo_cancel"): (S.ACTIVE, "cancel_undone", 0, lambda before, after: not after.cancel_at_period_end),
    (S.GRACE, "undo_cancel"): (S.GRACE, "cancel_undone", 0, lambda before, after: not after.cancel_at_period_end),
    (S.PAUSED, "undo_cancel"): (S.PAUSED, "cancel_undone", 0, lambda before, after: not after.cancel_at_period_end),
    (S.ACTIVE, "pause"): (S.PAUSED, "paused", 0, None),
    (S.PAUSED, "resume"): (S.ACTIVE, "resumed", 0,
                           lambda before, after: after.current_period_end > before.current_period_end),
    (S.SUSPENDED, "resume"): (S.ACTIVE, "payment_recovered", 1, None),
    (S.TRIAL, "extend_trial"): (S.TRIAL, "trial_extended", 0,
                                lambda before, after: after.trial_end == before.trial_end + timedelta(days=7)),
}
# Pairs the table refuses that ask for the state the subscription is already in: a no-op, not an error.
ALREADY = {(S.ACTIVE, "resume"), (S.PAUSED, "pause"), (S.CANCELLED, "cancel")}


def test_the_expectations_cover_the_table():
    allowed = {pair for pair, reason in ACTION_RULES.items() if reason is None}
    assert set(LANDS) == allowed
    assert not ALREADY & allowed


PAIRS = [(state, action) for state in STATES for action in ACTIONS]


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{state}-{action}" for state, action in PAIRS])
def test_every_pair(ann, plans, state, action):
    subscription = subscription_in(state, plan=plans.pro, cancel_at_period_end=action == "undo_cancel"
                                   and state in Subscription.LIVE_STATUSES)
    service, kwargs = _call(action, plans)
    before = snapshot(subscription)
    expected = LANDS.get((state, action))

    if (state, action) in ALREADY:
        result = service(subscription=subscription, actor=ann, **kwargs)
        assert not result.changed and result.message.endswith("nothing changed.")
        assert snapshot(subscription) == before
        return
    if expected is None or isinstance(expected, str):
        with pytest.raises(services.ActionRefused) as caught:
            service(subscription=subscription, actor=ann, **kwargs)
        if expected is None:
            assert caught.value.message == ACTION_RULES[(state, action)]
            assert (caught.value.code, caught.value.status) == ("not_allowed_in_state", 409)
        else:
            assert caught.value.code == expected
        assert snapshot(subscription) == before
        return

    lands_in, event, paid_invoices, check = expected
    credit_before = CreditEntry.objects.filter(customer=subscription.customer, kind="grant").count()
    result = service(subscription=subscription, actor=ann, **kwargs)
    after = Subscription.objects.select_related("plan").get(pk=subscription.pk)
    assert result.changed and after.status == lands_in
    assert subscription_events(subscription) == [event]
    new_paid = Invoice.objects.filter(customer=subscription.customer, status=Invoice.Status.PAID).count()
    assert new_paid == paid_invoices
    assert CreditEntry.objects.filter(customer=subscription.customer, kind="grant").count() == credit_before
    if check is not None:
        assert check(subscription, after)
    customer = Customer.objects.get(pk=subscription.customer_id)
    expected_state = derived_state(customer, after)
    assert {name: getattr(customer, name) for name in expected_state} == expected_state
