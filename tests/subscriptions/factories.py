"""Subscriptions billed through the sandbox gateway, for the billing job tests."""

from __future__ import annotations

from datetime import datetime

from customers.services import customer_refresh_derived_state
from payments.models import PaymentMethod
from subscriptions.billing import add_months
from subscriptions.models import Subscription
from tests.factories import PaymentMethodFactory, PlanFactory, SubscriptionFactory
from tests.payments.factories import card_customer


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
    from django.utils import timezone

    PaymentMethod.objects.filter(customer=customer, is_default=True).update(is_default=False)
    return PaymentMethod.objects.create(customer=customer, kind="card", brand="visa", last4=card[-4:].rjust(4, "0"),
                                        is_default=True, gateway="sandbox", gateway_ref=card,
                                        created_at=timezone.now())
