"""Two workers running the same billing job at the same moment (real Postgres, real commits, two connections):
every subscription gets one invoice and one charge per attempt, whichever worker gets to it."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone as dt_timezone

from django.db import connection

from payments.models import Invoice, Payment, SandboxOperation
from subscriptions import billing
from subscriptions.models import Subscription
from tests.subscriptions.factories import billed_subscription

NOW = datetime(2027, 3, 1, 9, tzinfo=dt_timezone.utc)
SUBSCRIPTIONS = 40


def _in_two_workers(job, now) -> list[dict]:
    """Run `job(now=now)` in two threads that start together; each thread has its own database connection."""
    start = threading.Barrier(2)
    results, errors = [None, None], []

    def worker(index):
        try:
            start.wait()
            results[index] = job(now=now)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_two_workers_renew_each_subscription_once(billing_db):
    subscriptions = [billed_subscription(period_end=NOW - timedelta(hours=1 + index % 5))
                     for index in range(SUBSCRIPTIONS)]
    results = _in_two_workers(billing.run_renewals, NOW)

    done = Counter()
    for result in results:
        done.update(result)
    assert done["renewed"] == SUBSCRIPTIONS and done["charged"] == SUBSCRIPTIONS and not done["errors"]
    for subscription in subscriptions:
        invoices = Invoice.objects.filter(subscription=subscription)
        assert invoices.count() == 1 and invoices.get().status == Invoice.Status.PAID
        assert Payment.objects.filter(invoice__subscription=subscription).count() == 1
        subscription.refresh_from_db()
        assert subscription.current_period_start == NOW - timedelta(hours=1 + subscriptions.index(subscription) % 5)
    assert SandboxOperation.objects.filter(kind="charge").count() == SUBSCRIPTIONS
    # And a third run finds nothing left.
    assert set(billing.run_renewals(now=NOW)) <= {"seen", billing.NOT_DUE}


def test_two_workers_make_each_due_retry_once(billing_db):
    failing = [billed_subscription(period_end=NOW - timedelta(days=2), card="pm_card_chargeDeclinedInsufficientFunds")
               for _ in range(SUBSCRIPTIONS // 2)]
    billing.run_renewals(now=NOW - timedelta(days=2) + timedelta(hours=1))  # the renewals fail: grace
    assert set(Subscription.objects.filter(pk__in=[s.pk for s in failing]).values_list("status", flat=True)) == {
        "grace"}
    results = _in_two_workers(billing.run_dunning, NOW)

    done = Counter()
    for result in results:
        done.update(result)
    assert done["charged"] == len(failing) and done["retry_failed"] == len(failing)
    for subscription in failing:
        assert Payment.objects.filter(invoice__subscription=subscription).count() == 2  # the renewal, one retry
        invoice = Invoice.objects.get(subscription=subscription)
        assert invoice.next_retry_at == invoice.payment_failed_at + timedelta(days=3)
