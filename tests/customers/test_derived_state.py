"""The one owner of derived customer state: status, plan, MRR in two currencies and the subscription
state follow the subscriptions; a rate change is applied set-based by the recompute command and task."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.models import Customer
from customers.services import customer_refresh_derived_state, customers_mrr_reporting_recompute
from customers.tasks import mrr_reporting_recompute
from tests.factories import CustomerFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=dt_timezone.utc)


@pytest.fixture(autouse=True)
def rates(settings):
    settings.REPORTING_CURRENCY = "USD"
    settings.EXCHANGE_RATES = {"EUR": Decimal("1.08"), "GBP": Decimal("1.27")}
    settings.PORTAL = {**settings.PORTAL, "DUNNING_RETRY_DAYS": [1, 3, 5, 7]}


@pytest.fixture
def euro_plan():
    return PlanFactory(code="standard-eur", price=1299, currency="EUR")


def refreshed(customer) -> Customer:
    customer_refresh_derived_state(customer)
    return Customer.objects.get(pk=customer.pk)


def test_a_trial_is_an_active_customer_without_mrr_until_it_ends(euro_plan):
    customer = CustomerFactory(currency="EUR")
    SubscriptionFactory(customer=customer, plan=euro_plan, status="trial", trial_end=T0 + timedelta(days=14),
                        current_period_start=T0, current_period_end=T0 + timedelta(days=14))
    customer = refreshed(customer)
    assert (customer.status, customer.plan_id, customer.mrr, customer.mrr_reporting) == ("active", euro_plan.pk, 0, 0)
    assert (customer.subscription_state, customer.trial_ends_at) == ("trial", T0 + timedelta(days=14))
    assert customer.payment_failing_since is None and customer.resumes_on is None


def test_an_active_subscription_bills_in_its_own_currency_and_sorts_in_the_reporting_one(euro_plan):
    customer = CustomerFactory(currency="USD")  # the plan's currency wins
    SubscriptionFactory(customer=customer, plan=euro_plan, status="active")
    customer = refreshed(customer)
    assert (customer.mrr, customer.currency, customer.mrr_reporting) == (1299, "EUR", 1403)  # 14.0292 → 14.03
    assert customer.subscription_state == "active" and customer.trial_ends_at is None


def test_a_yearly_plan_counts_a_twelfth_a_month():
    customer = CustomerFactory()
    SubscriptionFactory(customer=customer, plan=PlanFactory(price=12_000, interval="year"), status="active")
    assert refreshed(customer).mrr == 1000


def test_grace_keeps_mrr_and_says_since_when_the_payment_fails():
    customer = CustomerFactory()
    SubscriptionFactory(customer=customer, plan=PlanFactory(price=900), status="grace", current_period_start=T0,
                        current_period_end=T0 + timedelta(days=30))
    customer = refreshed(customer)
    assert (customer.status, customer.mrr, customer.subscription_state) == ("active", 900, "grace")
    assert customer.payment_failing_since == T0
    assert customer.grace_ends_at == T0 + timedelta(days=7)  # the last dunning retry


def test_paused_brings_no_mrr_and_keeps_the_resume_date():
    customer = CustomerFactory()
    SubscriptionFactory(customer=customer, status="paused", resume_on=date(2024, 7, 1))
    customer = refreshed(customer)
    assert (customer.status, customer.mrr, customer.subscription_state, customer.resumes_on) == (
        "active", 0, "paused", date(2024, 7, 1))


@pytest.mark.parametrize("last, status", [("cancelled", "churned"), ("expired", "inactive"),
                                          ("suspended", "inactive")])
def test_without_a_live_subscription_the_latest_one_decides(last, status):
    customer = CustomerFactory(status="active", mrr=900, mrr_reporting=900)
    SubscriptionFactory(customer=customer, status="cancelled", started_at=T0 - timedelta(days=400))
    SubscriptionFactory(customer=customer, status=last, started_at=T0 - timedelta(days=100))
    customer = refreshed(customer)
    assert (customer.status, customer.plan_id, customer.mrr, customer.mrr_reporting) == (status, None, 0, 0)
    assert customer.subscription_state == last


def test_a_live_subscription_wins_over_a_newer_ended_one():
    customer = CustomerFactory()
    SubscriptionFactory(customer=customer, status="active", started_at=T0 - timedelta(days=400))
    SubscriptionFactory(customer=customer, status="cancelled", started_at=T0 - timedelta(days=10))
    assert refreshed(customer).subscription_state == "active"


def test_never_subscribed_and_erased_customers():
    assert refreshed(CustomerFactory()).subscription_state == ""
    erased = CustomerFactory(status="erased")
    SubscriptionFactory(customer=erased, status="cancelled")
    assert refreshed(erased).status == "erased"


def test_a_second_refresh_writes_nothing(django_assert_num_queries):
    customer = CustomerFactory()
    SubscriptionFactory(customer=customer, status="active")
    assert "mrr" in customer_refresh_derived_state(customer)
    with django_assert_num_queries(4):  # savepoint, lock the row, read the subscription, release: no UPDATE
        assert customer_refresh_derived_state(customer) == []


# ---- Rates change: recompute set-based ---------------------------------------------------------------------

def test_a_rate_change_is_applied_by_the_command_in_chunks(settings):
    euro = CustomerFactory(mrr=2000, currency="EUR")
    pound = CustomerFactory(mrr=1000, currency="GBP")
    dollar = CustomerFactory(mrr=1000, currency="USD")
    settings.EXCHANGE_RATES = {"EUR": Decimal("1.10"), "GBP": Decimal("1.27")}
    out = io.StringIO()
    call_command("recompute_mrr_reporting", "--chunk-size", "1", stdout=out)
    assert "1 customer changed" in out.getvalue() and "1 EUR = 1.1 USD" in out.getvalue()
    assert [Customer.objects.get(pk=c.pk).mrr_reporting for c in (euro, pound, dollar)] == [2200, 1270, 1000]
    assert customers_mrr_reporting_recompute() == 0  # a rerun writes nothing


def test_the_task_does_the_same(settings):
    customer = CustomerFactory(mrr=1000, currency="GBP")
    settings.EXCHANGE_RATES = {"EUR": Decimal("1.08"), "GBP": Decimal("1.30")}
    assert mrr_reporting_recompute.delay().get() == 1
    assert Customer.objects.get(pk=customer.pk).mrr_reporting == 1300


def test_a_currency_without_a_rate_changes_nothing(settings):
    CustomerFactory(mrr=1000, currency="CHF", mrr_reporting=0)
    euro = CustomerFactory(mrr=1000, currency="EUR")
    settings.EXCHANGE_RATES = {"EUR": Decimal("2")}
    with pytest.raises(CommandError, match="No exchange rate to USD is configured for CHF"):
        call_command("recompute_mrr_reporting", stdout=io.StringIO())
    assert Customer.objects.get(pk=euro.pk).mrr_reporting == 1080
