"""Subscription fixtures: a small catalogue (three monthly USD tiers, a yearly plan, a euro plan) and a customer
with a live subscription on the middle tier, its state kept on the customer row as the services keep it."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from customers.services import customer_refresh_derived_state
from subscriptions.models import Plan, Subscription
from tests.factories import CustomerFactory, PaymentMethodFactory, PlanFactory, SubscriptionFactory


def catalogue() -> dict[str, Plan]:
    return {
        "basic": PlanFactory(code="basic-monthly", name="Basic", price=799, rank=1),
        "standard": PlanFactory(code="standard-monthly", name="Standard", price=1299, rank=2),
        "premium": PlanFactory(code="premium-monthly", name="Premium", price=1999, rank=3),
        "standard_yearly": PlanFactory(code="standard-yearly", name="Standard yearly", price=12990, rank=2,
                                       interval=Plan.Interval.YEAR),
        "basic_eur": PlanFactory(code="basic-monthly-eur", name="Basic (EUR)", price=699, rank=1, currency="EUR"),
    }


def subscribed(plan: Plan, *, status: str = Subscription.Status.ACTIVE, customer=None, **fields) -> Subscription:
    """A customer (a new one unless given) with a card and one subscription on `plan` in `status`, ten days into a
    30-day period."""
    now = timezone.now()
    customer = customer or CustomerFactory(currency=plan.currency, first_name="Ada", last_name="Lovelace")
    card = PaymentMethodFactory(customer=customer, brand="visa", last4="4242")
    defaults = {"started_at": now - timedelta(days=100), "current_period_start": now - timedelta(days=10),
                "current_period_end": now + timedelta(days=20)}
    if status == Subscription.Status.TRIAL:
        defaults.update(started_at=now - timedelta(days=5), current_period_start=now - timedelta(days=5),
                        current_period_end=now + timedelta(days=9), trial_end=now + timedelta(days=9))
    if status == Subscription.Status.PAUSED:
        defaults.update(paused_at=now - timedelta(days=3))
    if status in (Subscription.Status.CANCELLED, Subscription.Status.EXPIRED):
        defaults.update(ended_at=now - timedelta(days=1), current_period_end=now - timedelta(days=1),
                        current_period_start=now - timedelta(days=31), cancelled_at=now - timedelta(days=1))
    subscription = SubscriptionFactory(customer=customer, plan=plan, status=status, payment_method=card,
                                       **{**defaults, **fields})
    customer_refresh_derived_state(customer)
    return subscription
