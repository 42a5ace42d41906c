"""Subscriptions in every state, on a small catalogue, with the customer's derived state as its owner keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from customers.services import customer_refresh_derived_state
from payments.models import Invoice, Payment, PaymentMethod
from subscriptions.billing import add_months
from subscriptions.models import Plan, Subscription
from tests.factories import PaymentFactory, PaymentMethodFactory, PlanFactory, SubscriptionFactory
from tests.payments.factories import card_customer, open_invoice


@dataclass(frozen=True)
class Catalogue:
    basic: Plan  # $15.00 a month, rank 1
    pro: Plan  # $49.00 a month, rank 2
    team: Plan  # $99.00 a month, rank 3
    basic_yearly: Plan  # $150.00 a year, rank 1
    pro_yearly: Plan  # $490.00 a year, rank 2
    pro_eur: Plan  # €45.00 a month, rank 2
    legacy: Plan  # no longer offered, rank 2


def catalogue() -> Catalogue:
    return Catalogue(
        basic=PlanFactory(code="basic", name="Basic", price=1500, rank=1),
        pro=PlanFactory(code="pro", name="Pro", price=4900, rank=2),
        team=PlanFactory(code="team", name="Team", price=9900, rank=3),
        basic_yearly=PlanFactory(code="basic-yearly", name="Basic Yearly", price=15000, interval="year", rank=1),
        pro_yearly=PlanFactory(code="pro-yearly", name="Pro Yearly", price=49000, interval="year", rank=2),
        pro_eur=PlanFactory(code="pro-eur", name="Pro EUR", price=4500, currency="EUR", rank=2),
        legacy=PlanFactory(code="legacy", name="Legacy", price=2900, rank=2, is_active=False),
    )


def subscription_in(status: str, *, plan: Plan, card: str = "pm_card_visa", days_into_period: float = 10,
                    period_days: int = 30, **fields) -> Subscription:
    """A subscription of a customer with a sandbox card, `days_into_period` into a period of `period_days`, in
    `status` with what that state has in real data (a trial end, a pause moment, a failed invoice in dunning, …)."""
    now = timezone.now()
    customer = card_customer(card=card, currency=plan.currency)
    start = now - timedelta(days=days_into_period)
    values = {"customer": customer, "plan": plan, "status": status, "started_at": start - timedelta(days=60),
              "current_period_start": start, "current_period_end": start + timedelta(days=period_days)}
    if status == Subscription.Status.TRIAL:
        values.update(started_at=start, trial_end=values["current_period_end"])
    elif status == Subscription.Status.PAUSED:
        values.update(paused_at=now - timedelta(days=2))
    elif status == Subscription.Status.SUSPENDED:
        values.update(suspended_at=now - timedelta(days=1))
    elif status == Subscription.Status.CANCELLED:
        values.update(cancelled_at=now - timedelta(days=1), ended_at=now - timedelta(days=1),
                      cancel_reason=Subscription.CancelReason.OTHER)
    elif status == Subscription.Status.EXPIRED:
        values.update(ended_at=now - timedelta(days=1))
    values.update(fields)
    subscription = SubscriptionFactory(**values)
    if status in (Subscription.Status.GRACE, Subscription.Status.SUSPENDED):
        invoice = open_invoice(customer, amount=plan.price, subscription=subscription, period_start=start,
                               period_end=values["current_period_end"],
                               next_retry_at=now + timedelta(days=2) if status == Subscription.Status.GRACE
                               else None)
        PaymentFactory(customer=customer, invoice=invoice, amount=plan.price, currency=plan.currency,
                       status=Payment.Status.FAILED, failure_message="Your card was declined.",
                       created_at=now - timedelta(days=3))
    customer_refresh_derived_state(customer)
    subscription.refresh_from_db()
    return subscription


def outstanding_invoice(subscription: Subscription) -> Invoice:
    return Invoice.objects.get(subscription=subscription, status=Invoice.Status.OPEN)


def subscription_events(subscription: Subscription) -> list[str]:
    """The audit actions recorded about this subscription, oldest first (`subscriptions.subscription.` left off)."""
    from portal.models import AuditEvent

    return [action.removeprefix("subscriptions.subscription.") for action in
            AuditEvent.objects.filter(object_id=subscription.public_id).order_by("id").values_list("action", flat=True)]


def snapshot(subscription: Subscription) -> dict:
    """Everything an action could write: the subscription's row, the customer's, and how many rows each table of
    money, audit and timeline has."""
    from customers.models import ActivityEvent, Customer
    from payments.models import CreditEntry
    from portal.models import AuditEvent
    from subscriptions.models import SubscriptionRequest

    return {
        "subscription": Subscription.objects.filter(pk=subscription.pk).values().get(),
        "customer": Customer.objects.filter(pk=subscription.customer_id).values().get(),
        **{model.__name__: model.objects.count() for model in (AuditEvent, ActivityEvent, Invoice, Payment,
                                                               CreditEntry, SubscriptionRequest)},
    }


# ---- For the billing jobs ------------------------------------------------------------------------------------

def billed_subscription(*, period_end: datetime, card: str = "pm_card_visa", plan=None, status: str = "active",
                        customer=None, **fields) -> Subscription:
    """A subscription of a web customer (`customer`, or a new one) paying with a sandbox test card, whose current
    monthly period ends at `period_end` (for a trial: the trial ends then). The customer's derived state is what
    the services keep."""
    if customer is None:
        customer = card_customer(card=card)
    else:
        PaymentMethodFactory(customer=customer, gateway="sandbox", gateway_ref=card, is_default=True)
    plan = plan or PlanFactory(price=1500)
    start = add_months(period_end, -1)
    if status == Subscription.Status.TRIAL:
        fields.setdefault("trial_end", period_end)
    subscription = SubscriptionFactory(customer=customer, plan=plan, status=status, started_at=start,
                                       current_period_start=start, current_period_end=period_end,
                                       payment_method=PaymentMethod.objects.get(customer=customer), **fields)
    customer_refresh_derived_state(customer)
    return subscription


def replace_card(customer, card: str = "pm_card_visa") -> PaymentMethod:
    """The customer's default method becomes a new sandbox card (as a card update would leave it)."""
    PaymentMethod.objects.filter(customer=customer, is_default=True).update(is_default=False)
    return PaymentMethod.objects.create(customer=customer, kind="card", brand="visa", last4=card[-4:].rjust(4, "0"),
                                        is_default=True, gateway="sandbox", gateway_ref=card,
                                        created_at=timezone.now())
