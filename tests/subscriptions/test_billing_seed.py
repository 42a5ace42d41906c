"""The billing jobs on the demo data: the seeder writes the dunning schedule as the jobs keep it, the jobs find
nothing due on the day the data is anchored to, and forty days later they have worked through every story."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from payments.models import Invoice, Payment
from subscriptions import billing
from subscriptions.models import Subscription
from tests.subscriptions.conftest import restore_billing_templates
from tests.test_seed_demo import ANCHOR, seed


def test_the_seeded_dunning_schedule_is_the_billing_jobs(owner_role, db):
    seed()
    grace = Subscription.objects.filter(status="grace")
    assert grace.exists()
    for subscription in grace:
        invoice = Invoice.objects.get(subscription=subscription, status=Invoice.Status.OPEN)
        assert invoice.billing_reason == "subscription_cycle"
        assert invoice.payment_failed_at == subscription.current_period_start
        last = Payment.objects.filter(invoice=invoice).order_by("-created_at", "-id").first()
        if last.decline_type == Payment.DeclineType.HARD:
            assert invoice.next_retry_at is None
        else:
            assert ANCHOR < invoice.next_retry_at <= invoice.payment_failed_at + timedelta(days=7)
    assert not Invoice.objects.exclude(billing_reason="subscription_cycle").exists()


def test_the_jobs_on_seeded_data_do_only_what_is_due(owner_role, transactional_db):
    seed()
    restore_billing_templates()
    on_the_day = billing.run_all(now=ANCHOR)
    assert all(set(done) <= {"seen", billing.NOT_DUE, billing.WAITING, "auto_resume", billing.CHARGED, "renewed",
                             "renewal_failed"} for done in on_the_day.values()), on_the_day
    assert not on_the_day["renewals"].get("charged") and not on_the_day["dunning"].get("charged")

    # Forty days later, three ticks (a run renews one period of each subscription; the next catches up the next).
    done = Counter()
    for minutes in (0, 5, 10):
        for counts in billing.run_all(now=ANCHOR + timedelta(days=40, minutes=minutes)).values():
            done.update(counts)
    assert not done["errors"] and not done[billing.BUSY], done
    assert done["renewed"] and done["expire"] and done["dunning_exhausted"], done
    # Nothing live is left with a period that ended (store-billed ones wait for the store, then expire).
    overdue = Subscription.objects.filter(status="active", cancel_at_period_end=False,
                                          current_period_end__lte=ANCHOR + timedelta(days=40))
    assert set(overdue.values_list("customer__storefront__kind", flat=True)) <= {"app_store", "google_play"}
    assert not Subscription.objects.filter(status="trial", trial_end__lte=ANCHOR + timedelta(days=40)).exists()
