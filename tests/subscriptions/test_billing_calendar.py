"""Three months of billing on a frozen clock: every job runs twice at each of two ticks a day (09:00 and 21:00 UTC),
and each story below ends with exactly the invoices, payments, audit rows and emails it should have.

The clock is the jobs' `now`; the sandbox gateway answers at once, so each charge's outcome is known before the
job moves on. Each tick's second run must find nothing left to do.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest

from customers.models import Customer
from customers.services import customer_refresh_derived_state
from payments.credit import credit_grant
from payments.models import Invoice, Payment
from portal.models import AuditEvent
from subscriptions import billing
from subscriptions.models import Subscription
from support.models import EmailMessage
from tests.factories import (
    CustomerFactory, PaymentMethodFactory, PlanFactory, StorefrontFactory, SubscriptionFactory,
)
from tests.subscriptions.factories import billed_subscription, replace_card

UTC = dt_timezone.utc
START = datetime(2027, 1, 4, 9, tzinfo=UTC)  # a Monday
END = datetime(2027, 4, 4, 21, tzinfo=UTC)
SOFT, HARD = "pm_card_chargeDeclinedInsufficientFunds", "pm_card_chargeDeclined"
IDLE = {"seen", billing.NOT_DUE, billing.WAITING}


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2027, month, day, hour, tzinfo=UTC)


def ticks():
    moment = START
    while moment <= END:
        yield moment
        moment += timedelta(hours=12)


def times(counter: Counter, n: int) -> Counter:
    return Counter({key: value * n for key, value in counter.items()})


# Audit rows of one charge, by outcome.
def renewal(*extra: str) -> Counter:
    return Counter(["payments.invoice.issued", "payments.payment.attempted", "payments.payment.succeeded",
                    "subscriptions.subscription.renewed", *extra])


def email(times: int = 1) -> Counter:
    return Counter({"support.email.queued": times, "support.email.sent": times})


def failed_retry() -> Counter:
    return Counter(["payments.payment.attempted", "payments.payment.failed", "payments.invoice.retry_planned"]) + email()


def first_failure() -> Counter:
    return Counter(["payments.invoice.issued", "payments.payment.attempted", "payments.payment.failed",
                    "subscriptions.subscription.renewal_failed"]) + email()


def last_failure() -> Counter:
    return Counter(["payments.payment.attempted", "payments.payment.failed",
                    "subscriptions.subscription.dunning_exhausted"]) + email()


RECOVERED = Counter(["payments.payment.attempted", "payments.payment.succeeded",
                     "subscriptions.subscription.payment_recovered"])
EXPIRED = Counter(["subscriptions.subscription.expire"]) + email()


@pytest.fixture
def stories(billing_db, people):
    """Each story's subscription, keyed by name."""
    _, manager, _ = people
    pro = PlanFactory(code="pro", name="Pro", price=2500)
    made = {
        # renews on the 10th, three times
        "steady": billed_subscription(period_end=at(1, 10)),
        # the trial ends on 6 Jan: converted, then renewed twice
        "trial": billed_subscription(period_end=at(1, 6), status="trial"),
        # an upgrade scheduled for the renewal: every invoice at the new price
        "upgrade": billed_subscription(period_end=at(1, 15), scheduled_plan=pro),
        # set to cancel at the end of its period on 20 Jan
        "leaving": billed_subscription(period_end=at(1, 20), cancel_at_period_end=True, cancel_reason="switching"),
        # paused until 1 Feb: resumed then, renewed on 1 Mar and 1 Apr
        "paused": billed_subscription(period_end=at(1, 1), status="paused", resume_on=date(2027, 2, 1)),
        # a card that keeps failing: every retry, suspended, then a new card on 22 Jan
        "fixed": billed_subscription(period_end=at(1, 12), card=SOFT),
        # a card that keeps failing and is never replaced: suspended, then expired
        "lost": billed_subscription(period_end=at(1, 25), card=SOFT),
        # a hard decline on 3 Feb: no retry until the new card of 6 Feb
        "hard": billed_subscription(period_end=at(2, 3), card=HARD),
        # a hard decline never followed by a new card: suspended when the schedule ends, then expired
        "hard_lost": billed_subscription(period_end=at(2, 20), card=HARD),
        # a retention discount of 20% for two renewals
        "discount": billed_subscription(period_end=at(1, 8), discount_percent=20, discount_cycles_left=2),
        # account credit pays first
        "credit": billed_subscription(period_end=at(1, 18)),
    }
    credit_grant(customer=made["credit"].customer, amount=2000, reason="Outage", actor=manager)
    store = CustomerFactory(storefront=StorefrontFactory(code="app-store", name="App Store", kind="app_store"))
    PaymentMethodFactory(customer=store, kind="app_store", gateway="app_store", is_default=True)
    # billed by the App Store: never invoiced here; its term ends on 9 Jan and no renewal comes
    made["store"] = SubscriptionFactory(customer=store, current_period_start=at(12, 9) - timedelta(days=365),
                                        current_period_end=at(1, 9))
    customer_refresh_derived_state(store)
    return made


EXPECTED = {
    "steady": dict(status="active", invoices=[1500] * 3, payments=3,
                   audit=times(renewal(), 3)),
    "trial": dict(status="active", invoices=[1500] * 3, payments=3,
                  audit=times(renewal(), 2) + renewal() - Counter(["subscriptions.subscription.renewed"])
                  + Counter(["subscriptions.subscription.trial_converted"])),
    "upgrade": dict(status="active", invoices=[2500] * 3, payments=3,
                    audit=times(renewal(), 3) + Counter(["subscriptions.subscription.plan_changed_at_renewal"])),
    "leaving": dict(status="cancelled", invoices=[], payments=0,
                    audit=Counter(["subscriptions.subscription.period_end_cancel"])),
    "paused": dict(status="active", invoices=[1500] * 3, payments=3,
                   audit=times(renewal(), 3) + Counter(["subscriptions.subscription.auto_resume"])),
    "fixed": dict(status="active", invoices=[1500] * 3, payments=8,
                  audit=first_failure() + times(failed_retry(), 3) + last_failure() + RECOVERED + times(renewal(), 2),
                  emails={"payment-retry-scheduled": 4, "subscription-suspended": 1}),
    "lost": dict(status="expired", invoices=[1500], payments=5,
                 audit=first_failure() + times(failed_retry(), 3) + last_failure() + EXPIRED,
                 emails={"payment-retry-scheduled": 4, "subscription-suspended": 1, "subscription-expired": 1}),
    "hard": dict(status="active", invoices=[1500] * 3, payments=4,
                 audit=first_failure() + RECOVERED + times(renewal(), 2),
                 emails={"payment-update-card": 1}),
    "hard_lost": dict(status="expired", invoices=[1500], payments=1,
                      audit=first_failure() + Counter(["subscriptions.subscription.dunning_exhausted"]) + email()
                      + EXPIRED,
                      emails={"payment-update-card": 1, "subscription-suspended": 1, "subscription-expired": 1}),
    "discount": dict(status="active", invoices=[1200, 1200, 1500], payments=3,
                     audit=times(renewal(), 3) + Counter({"subscriptions.subscription.discount_applied": 2})),
    "credit": dict(status="active", invoices=[1500] * 3, payments=2,
                   audit=times(renewal(), 3) - Counter(["payments.payment.attempted", "payments.payment.succeeded"])
                   + Counter({"payments.credit.applied": 2})),
    "store": dict(status="expired", invoices=[], payments=0, audit=EXPIRED, emails={"subscription-expired": 1}),
}

# What the agent-free world does in between: new cards.
EVENTS = {
    at(1, 22, 10): lambda made: replace_card(made["fixed"].customer),
    at(2, 6, 10): lambda made: replace_card(made["hard"].customer),
}


def _work(counts: dict[str, dict[str, int]]) -> dict:
    return {job: {k: v for k, v in done.items() if k not in IDLE} for job, done in counts.items()
            if any(k not in IDLE for k in done)}


def test_three_months_of_billing_twice_a_day(stories):
    made = stories
    audit_before = {name: Counter(AuditEvent.objects.filter(customer=sub.customer).values_list("action", flat=True))
                    for name, sub in made.items()}
    checks = {
        # the first failure: grace, the schedule counted from it, the customer told the next day
        at(1, 12, 9): lambda: _check_grace(made["fixed"], failed=at(1, 12, 9), next_retry=at(1, 13, 9)),
        at(1, 19, 9): lambda: _check_suspended(made["fixed"], since=at(1, 19, 9)),
        at(2, 3, 9): lambda: _check_grace(made["hard"], failed=at(2, 3, 9), next_retry=None),
        # no retry while the declined card stays
        at(2, 6, 9): lambda: _check_payments(made["hard"], 1),
    }
    events = dict(EVENTS)
    for now in ticks():
        for moment in [m for m in events if m <= now]:
            events.pop(moment)(made)
        first = billing.run_all(now=now)
        again = billing.run_all(now=now)
        assert _work(again) == {}, (now, first, again)
        assert not any("errors" in done or billing.BUSY in done for done in first.values()), (now, first)
        if now in checks:
            checks.pop(now)()
    assert not checks and not events

    for name, expected in EXPECTED.items():
        subscription = Subscription.objects.get(pk=made[name].pk)
        invoices = Invoice.objects.filter(subscription=subscription).order_by("period_start")
        assert subscription.status == expected["status"], name
        assert [invoice.total for invoice in invoices] == expected["invoices"], name
        assert Payment.objects.filter(invoice__subscription=subscription).count() == expected["payments"], name
        actions = Counter(AuditEvent.objects.filter(customer=subscription.customer)
                          .values_list("action", flat=True)) - audit_before[name]
        assert actions == expected["audit"], (name, actions - expected["audit"], expected["audit"] - actions)
        emails = Counter(EmailMessage.objects.filter(customer=subscription.customer)
                         .values_list("template__code", flat=True))
        assert emails == Counter(expected.get("emails", {})), name
        # never two invoices for one period, and each paid period charged once
        assert len({invoice.period_start for invoice in invoices}) == len(invoices), name
        for invoice in invoices.filter(status=Invoice.Status.PAID):
            captured = Payment.objects.filter(invoice=invoice, status=Payment.Status.SUCCEEDED)
            assert sum(p.amount for p in captured) + invoice.credit_applied == invoice.total, (name, invoice)

    _check_periods(made)


def _check_grace(subscription, *, failed, next_retry):
    subscription.refresh_from_db()
    customer = Customer.objects.get(pk=subscription.customer_id)
    invoice = Invoice.objects.get(subscription=subscription, status=Invoice.Status.OPEN)
    assert subscription.status == "grace" and customer.subscription_state == "grace"
    assert invoice.payment_failed_at == failed and invoice.next_retry_at == next_retry
    assert customer.payment_failing_since == failed and customer.grace_ends_at == failed + timedelta(days=7)
    assert (subscription.current_period_start, subscription.current_period_end) == (
        invoice.period_start, invoice.period_end)


def _check_suspended(subscription, *, since):
    subscription.refresh_from_db()
    assert subscription.status == "suspended" and subscription.suspended_at == since
    assert Customer.objects.get(pk=subscription.customer_id).status == Customer.Status.INACTIVE
    assert Invoice.objects.get(subscription=subscription).next_retry_at is None


def _check_payments(subscription, count):
    assert Payment.objects.filter(invoice__subscription=subscription).count() == count


def _check_periods(made):
    """Dates the jobs set: period ends, cancel and resume dates, plans and discounts."""
    def fresh(name):
        return Subscription.objects.select_related("plan").get(pk=made[name].pk)

    assert fresh("steady").current_period_end == at(4, 10)
    assert fresh("trial").current_period_end == at(4, 6)
    upgrade = fresh("upgrade")
    assert upgrade.plan.code == "pro" and upgrade.scheduled_plan_id is None
    assert Customer.objects.get(pk=upgrade.customer_id).mrr == 2500
    leaving = fresh("leaving")
    assert leaving.ended_at == at(1, 20) and Customer.objects.get(pk=leaving.customer_id).status == "churned"
    paused = fresh("paused")
    assert paused.resume_on is None and paused.current_period_start == at(4, 1, 9)
    assert Invoice.objects.filter(subscription=paused).order_by("period_start").first().period_start == at(2, 1, 9)
    discount = fresh("discount")
    assert (discount.discount_percent, discount.discount_cycles_left) == (0, 0)
    lost = fresh("lost")
    assert lost.suspended_at == at(2, 1, 9) and lost.ended_at == at(2, 15, 9)
    assert Invoice.objects.get(subscription=lost).status == Invoice.Status.UNCOLLECTIBLE
    hard_lost = fresh("hard_lost")
    assert hard_lost.suspended_at == at(2, 27, 9) and hard_lost.ended_at == at(3, 13, 9)
    assert fresh("store").ended_at == at(1, 25, 9)
    fixed = Invoice.objects.filter(subscription=made["fixed"]).order_by("period_start").first()
    assert fixed.status == Invoice.Status.PAID and fixed.next_retry_at is None
