"""The billing jobs after ten days without a run (a worker down, beat paused): one run applies each event that
came due once, in order, with no double charge, and the schedule goes on from there."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone as dt_timezone

from payments.models import Invoice, Payment
from portal.models import AuditEvent
from subscriptions import billing
from subscriptions.models import Subscription
from tests.subscriptions.factories import billed_subscription

UTC = dt_timezone.utc
T = datetime(2027, 5, 3, 9, tzinfo=UTC)  # the last run before the gap
LATE = T + timedelta(days=10)
SOFT = "pm_card_chargeDeclinedInsufficientFunds"


def _actions(subscription) -> list[str]:
    return list(AuditEvent.objects.filter(customer=subscription.customer_id, action__startswith="subscriptions.")
                .order_by("id").values_list("action", flat=True))


def _payments(subscription) -> int:
    return Payment.objects.filter(invoice__subscription=subscription).count()


def test_one_late_run_applies_each_due_event_once_in_order(billing_db):
    renewing = billed_subscription(period_end=T + timedelta(days=2))
    failing = billed_subscription(period_end=T + timedelta(days=2), card=SOFT)
    trial = billed_subscription(period_end=T + timedelta(days=3), status="trial")
    leaving = billed_subscription(period_end=T + timedelta(days=5), cancel_at_period_end=True)
    paused = billed_subscription(period_end=T - timedelta(days=20), status="paused", resume_on=date(2027, 5, 7))
    dunned = billed_subscription(period_end=T - timedelta(hours=1), card=SOFT)
    assert billing.run_all(now=T)["renewals"]["renewal_failed"] == 1  # `dunned` is in grace, retry due tomorrow

    late = billing.run_all(now=LATE)  # nothing ran for ten days

    for subscription in (renewing, failing, trial, leaving, paused, dunned):
        subscription.refresh_from_db()
    # Each event once, each period invoiced once, at the dates it was due.
    assert renewing.status == "active" and renewing.current_period_start == T + timedelta(days=2)
    assert trial.status == "active" and trial.current_period_start == T + timedelta(days=3)
    assert leaving.status == "cancelled" and leaving.ended_at == T + timedelta(days=5)
    assert paused.status == "active" and paused.current_period_start == LATE  # access came back with this run
    assert [_payments(s) for s in (renewing, trial, paused)] == [1, 1, 1]
    # The late renewal failed: grace, its schedule counted from this run, not from the day it was due.
    assert failing.status == "grace" and _payments(failing) == 1
    invoice = Invoice.objects.get(subscription=failing)
    assert invoice.period_start == T + timedelta(days=2)
    assert (invoice.payment_failed_at, invoice.next_retry_at) == (LATE, LATE + timedelta(days=1))
    assert _actions(failing) == ["subscriptions.subscription.renewal_failed"]
    # The grace subscription missed every retry day: one retry now (no burst), the last one, then suspended.
    assert dunned.status == "suspended" and _payments(dunned) == 2
    assert _actions(dunned) == ["subscriptions.subscription.renewal_failed",
                                "subscriptions.subscription.dunning_exhausted"]
    assert late["dunning"]["charged"] == 1 and late["dunning"]["dunning_exhausted"] == 1
    assert (late["renewals"]["charged"], late["trial_ends"]["charged"], late["resumes"]["charged"]) == (2, 1, 1)

    # Running again at the same moment changes nothing; the schedule then goes on from the late failure.
    again = billing.run_all(now=LATE)
    assert all(set(done) <= {"seen", billing.NOT_DUE, billing.WAITING} for done in again.values()), again
    for day in range(1, 10):
        billing.run_all(now=LATE + timedelta(days=day))
    failing.refresh_from_db()
    assert failing.status == "suspended" and failing.suspended_at == LATE + timedelta(days=7)
    assert _payments(failing) == 5  # the renewal and four retries (days 1, 3, 5, 7 after it)
    assert _actions(failing) == ["subscriptions.subscription.renewal_failed",
                                 "subscriptions.subscription.dunning_exhausted"]
    assert Subscription.objects.get(pk=renewing.pk).current_period_end == T + timedelta(days=2 + 31)
