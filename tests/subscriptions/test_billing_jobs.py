"""The billing jobs one rule at a time: hard declines and new cards, charges still processing, cancels waiting for
a payment, a run that died half-way, the beat entry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from payments import gateway_calls
from payments.card_links import card_link_send, card_link_token
from payments.invoices import invoice_issue, invoice_line
from payments.models import Invoice, Payment, SandboxOperation
from portal.models import AuditEvent
from subscriptions import billing
from subscriptions.billing import add_months
from subscriptions.models import Subscription
from support.models import EmailMessage
from tests.factories import CustomerFactory, PlanFactory, SubscriptionFactory
from tests.subscriptions.factories import billed_subscription, replace_card

UTC = dt_timezone.utc
SOFT, HARD = "pm_card_chargeDeclinedInsufficientFunds", "pm_card_chargeDeclined"
GOOD = {"card_number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"}
DECLINES_SOFTLY = {**GOOD, "card_number": "4000 0000 0000 9995"}


def _payments(subscription) -> list[Payment]:
    return list(Payment.objects.filter(invoice__subscription=subscription).order_by("created_at", "id"))


def _emails(subscription) -> list[str]:
    return list(EmailMessage.objects.filter(customer=subscription.customer_id).order_by("created_at", "id")
                .values_list("template__code", flat=True))


def _fresh(subscription) -> Subscription:
    return Subscription.objects.get(pk=subscription.pk)


def _open_invoice(subscription) -> Invoice:
    return Invoice.objects.get(subscription=subscription, status=Invoice.Status.OPEN)


@pytest.fixture
def now():
    """Card-update links live on the real clock, so these stories start just now."""
    return timezone.now().replace(microsecond=0)


# ---- Hard declines and new cards -------------------------------------------------------------------------------

def test_a_hard_decline_stops_retries_until_the_card_page_charges_the_new_card(billing_db, people, client, now):
    agent, _, _ = people
    subscription = billed_subscription(period_end=now - timedelta(hours=1), card=HARD)
    billing.run_all(now=now)
    invoice = _open_invoice(subscription)
    assert _fresh(subscription).status == "grace" and invoice.next_retry_at is None
    assert _emails(subscription) == ["payment-update-card"]
    for day in (1, 2, 3):  # no retry on the schedule's days while the declined card stays
        billing.run_all(now=now + timedelta(days=day))
    assert len(_payments(subscription)) == 1

    link = card_link_send(customer=subscription.customer, actor=agent)
    page = client.post(reverse("card_links:page", kwargs={"token": card_link_token(link)}), GOOD)
    assert "We charged $15.00 for your outstanding invoice." in page.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.next_retry_at is None
    assert _fresh(subscription).status == "active"
    assert AuditEvent.objects.filter(action="subscriptions.subscription.payment_recovered",
                                     object_id=subscription.public_id).count() == 1
    # The page's charge was the retry: the jobs find nothing to collect.
    billing.run_all(now=now + timedelta(days=3, hours=1))
    assert len(_payments(subscription)) == 2


def test_a_new_card_that_declines_softly_goes_on_with_the_schedule(billing_db, people, client, now):
    agent, _, _ = people
    subscription = billed_subscription(period_end=now - timedelta(hours=1), card=HARD)
    billing.run_all(now=now)
    link = card_link_send(customer=subscription.customer, actor=agent)
    page = client.post(reverse("card_links:page", kwargs={"token": card_link_token(link)}), DECLINES_SOFTLY)
    assert "the charge was declined" in page.content.decode()
    assert len(_payments(subscription)) == 2

    done = billing.run_all(now=now + timedelta(hours=2))
    assert done["dunning"].get("rescheduled") == 1 and "charged" not in done["dunning"]
    assert _open_invoice(subscription).next_retry_at == now + timedelta(days=1)
    billing.run_all(now=now + timedelta(days=1))
    assert len(_payments(subscription)) == 3  # the schedule's retry, on the new card


def test_a_new_card_added_any_other_way_is_retried_by_the_next_run(billing_db, now):
    subscription = billed_subscription(period_end=now - timedelta(hours=1), card=HARD)
    billing.run_all(now=now)
    replace_card(subscription.customer)  # e.g. saved at the gateway, or by an agent
    done = billing.run_all(now=now + timedelta(hours=1))
    assert done["dunning"]["charged"] == 1 and done["dunning"]["payment_recovered"] == 1
    assert _fresh(subscription).status == "active"
    assert [p.status for p in _payments(subscription)] == ["failed", "succeeded"]


def test_a_retry_that_meets_a_hard_decline_plans_no_more(billing_db, now):
    subscription = billed_subscription(period_end=now - timedelta(hours=1), card=SOFT)
    billing.run_all(now=now)
    assert _open_invoice(subscription).next_retry_at == now + timedelta(days=1)
    replace_card(subscription.customer, HARD)  # the customer swaps in a card that is refused for good
    billing.run_all(now=now + timedelta(hours=1))
    assert len(_payments(subscription)) == 1  # a retry is planned: the new card is tried on its day
    billing.run_all(now=now + timedelta(days=1))
    invoice = _open_invoice(subscription)
    assert [p.decline_type for p in _payments(subscription)] == ["soft", "hard"]
    assert invoice.next_retry_at is None
    assert _emails(subscription) == ["payment-retry-scheduled", "payment-update-card"]
    for day in (1, 3, 5):
        billing.run_all(now=now + timedelta(days=day))
    assert len(_payments(subscription)) == 2 and _fresh(subscription).status == "grace"
    billing.run_all(now=now + timedelta(days=7))  # the schedule ended unpaid: suspended all the same
    assert _fresh(subscription).status == "suspended" and len(_payments(subscription)) == 2


def test_a_trial_without_a_card_waits_for_one(billing_db, now):
    subscription = billed_subscription(period_end=now - timedelta(hours=1), status="trial")
    subscription.customer.payment_methods.all().delete()
    done = billing.run_trial_ends(now=now)
    assert done["trial_failed"] == 1 and "charged" not in done
    assert _fresh(subscription).status == "grace" and _open_invoice(subscription).next_retry_at is None
    assert _emails(subscription) == ["payment-update-card"]
    replace_card(subscription.customer)
    billing.run_all(now=now + timedelta(hours=5))
    assert _fresh(subscription).status == "active"


# ---- The failed-payment emails ---------------------------------------------------------------------------------

def test_the_customer_is_told_the_day_of_the_next_retry(billing_db):
    first = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)  # a Wednesday: the next retry is on Thursday
    subscription = billed_subscription(period_end=first - timedelta(hours=1), card=SOFT)
    billing.run_all(now=first)
    message = EmailMessage.objects.get(customer=subscription.customer_id)
    assert message.subject == "Your payment did not go through: we'll try again on Thu 3 Dec"
    assert "We will try again on Thursday 3 December." in message.text_body
    assert "$15.00" in message.text_body


# ---- Charges still processing, cancels waiting for them ---------------------------------------------------------

def _settle_pending():
    """The sandbox's pending charges settle (their time came); reconciliation records what it answers."""
    SandboxOperation.objects.filter(status="pending").update(settles_at=timezone.now() - timedelta(seconds=1))
    gateway_calls.reconcile_unsettled(now=timezone.now() + timedelta(minutes=5))


def test_a_charge_still_processing_is_waited_for_then_applied_once(billing_db, now):
    subscription = billed_subscription(period_end=now - timedelta(hours=1), card="pm_card_pending")
    first = billing.run_renewals(now=now)
    assert first["charged"] == 1 and first[billing.WAITING] == 1
    assert _fresh(subscription).current_period_end == now - timedelta(hours=1)  # not renewed yet
    assert billing.run_renewals(now=now + timedelta(minutes=5)) == {"seen": 1, billing.WAITING: 1}
    _settle_pending()
    assert billing.run_renewals(now=now + timedelta(minutes=10))["renewed"] == 1
    assert [p.status for p in _payments(subscription)] == ["succeeded"]
    assert _fresh(subscription).current_period_start == now - timedelta(hours=1)


@pytest.mark.parametrize("when, status", [("now", "cancelled"), ("period_end", "active")])
def test_a_cancel_waits_for_the_payment_to_settle(billing_db, now, when, status):
    subscription = billed_subscription(period_end=now - timedelta(hours=1), card="pm_card_pending")
    billing.run_renewals(now=now)
    Subscription.objects.filter(pk=subscription.pk).update(cancel_after_settle=when, cancel_reason="too_expensive")
    assert billing.run_cancels_after_settle(now=now)[billing.WAITING] == 1
    _settle_pending()
    done = billing.run_all(now=now + timedelta(minutes=10))
    subscription = _fresh(subscription)
    assert done["cancels_after_settle"].get("cancelled" if when == "now" else "cancel_scheduled") == 1
    assert subscription.status == status and subscription.cancel_after_settle == ""
    assert subscription.cancel_reason == "too_expensive"
    assert subscription.cancel_at_period_end == (when == "period_end")
    if when == "period_end":  # and the period-end job ends it when the renewed period ends
        billing.run_all(now=subscription.current_period_end + timedelta(minutes=1))
        assert _fresh(subscription).status == "cancelled" and Invoice.objects.filter(
            subscription=subscription).count() == 1


def test_a_cancel_waits_while_the_invoice_is_in_dunning(billing_db, now):
    subscription = billed_subscription(period_end=now - timedelta(hours=1), card=SOFT)
    billing.run_all(now=now)
    Subscription.objects.filter(pk=subscription.pk).update(cancel_after_settle="now")
    assert billing.run_cancels_after_settle(now=now)[billing.WAITING] == 1
    replace_card(subscription.customer)
    billing.run_all(now=now + timedelta(days=1))  # the retry pays it; then the cancel is carried out
    assert _fresh(subscription).status == "cancelled"


# ---- Runs that died half-way, and the constraint behind them ----------------------------------------------------

def test_an_invoice_issued_by_a_run_that_died_is_charged_by_the_next(billing_db, now):
    subscription = billed_subscription(period_end=now - timedelta(hours=1))
    start = subscription.current_period_end

    def issue():
        invoice_issue(customer=subscription.customer, subscription=subscription, lines=[invoice_line("Plan", 1500)],
                      currency="USD", period_start=start, period_end=add_months(start, 1), actor=None, why="renewal",
                      billing_reason="subscription_cycle", issued_at=now)

    with transaction.atomic():  # what the dead run committed: the invoice, no charge
        issue()
    done = billing.run_renewals(now=now)
    assert done["charged"] == 1 and done["renewed"] == 1
    assert Invoice.objects.filter(subscription=subscription).count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():  # never two invoices for one period
        issue()


def test_a_period_end_cancel_in_grace_stops_the_retries(billing_db, now):
    subscription = billed_subscription(period_end=now - timedelta(hours=1), card=SOFT)
    billing.run_all(now=now)
    Subscription.objects.filter(pk=subscription.pk).update(cancel_at_period_end=True)
    billing.run_all(now=_fresh(subscription).current_period_end)
    assert _fresh(subscription).status == "cancelled"
    assert Invoice.objects.get(subscription=subscription).next_retry_at is None


def test_a_fully_discounted_period_is_paid_without_a_charge(billing_db, now):
    subscription = billed_subscription(period_end=now - timedelta(hours=1), discount_percent=100,
                                       discount_cycles_left=1)
    assert billing.run_renewals(now=now)["renewed"] == 1
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.total == 0 and invoice.status == Invoice.Status.PAID and not _payments(subscription)
    assert [line["amount"] for line in invoice.lines] == [1500, -1500]


def test_a_resume_date_continues_the_paid_period_like_an_agents_resume(billing_db, now):
    """Paused 10 days into a 31-day period, resumed by its date 20 days later: the 21 days left continue, nothing
    is charged until the period, moved on by the pause, ends."""
    start = now - timedelta(days=30)
    subscription = billed_subscription(period_end=add_months(start, 1), status="paused", paused_at=start + timedelta(
        days=10), resume_on=(now - timedelta(hours=1)).date())
    Subscription.objects.filter(pk=subscription.pk).update(current_period_start=start)
    assert billing.run_all(now=now)["resumes"] == {"seen": 1, "auto_resume": 1}
    subscription = _fresh(subscription)
    shift = now - (start + timedelta(days=10))
    assert subscription.status == "active" and subscription.resume_on is None and subscription.paused_at is None
    assert subscription.current_period_end == add_months(start, 1) + shift and not _payments(subscription)
    billing.run_all(now=subscription.current_period_end)
    assert len(_payments(subscription)) == 1


def test_a_yearly_plan_renews_a_year_on():
    assert billing.period_after(datetime(2027, 2, 28, tzinfo=UTC), PlanFactory.build(interval="year")) == (
        datetime(2027, 2, 28, tzinfo=UTC), datetime(2028, 2, 28, tzinfo=UTC))
    assert add_months(datetime(2027, 1, 31, tzinfo=UTC), 1) == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2027, 12, 15, tzinfo=UTC), 1) == datetime(2028, 1, 15, tzinfo=UTC)


def test_store_billed_subscriptions_are_never_invoiced(billing_db, now):
    from tests.factories import PaymentMethodFactory, StorefrontFactory

    customer = CustomerFactory(storefront=StorefrontFactory(code="google-play", name="Google Play",
                                                            kind="google_play"))
    PaymentMethodFactory(customer=customer, kind="google_play", gateway="google_play")
    subscription = SubscriptionFactory(customer=customer, current_period_end=now - timedelta(days=1))
    billing.run_all(now=now)
    assert not Invoice.objects.filter(subscription=subscription).exists() and _fresh(subscription).status == "active"
    billing.run_all(now=now + timedelta(days=16))
    assert _fresh(subscription).status == "expired"


# ---- Beat ------------------------------------------------------------------------------------------------------

def test_the_beat_runs_every_job_in_order_with_no_arguments(billing_db):
    from portal.celery import app
    from subscriptions.tasks import billing_tick

    entry = settings.CELERY_BEAT_SCHEDULE["subscriptions-billing-tick"]
    assert entry["task"] == "subscriptions.billing_tick" and entry["schedule"] <= 10 * 60
    assert "args" not in entry and "kwargs" not in entry
    assert "subscriptions.billing_tick" in app.tasks
    assert list(billing_tick.apply().result) == [name for name, _ in billing.JOBS]
