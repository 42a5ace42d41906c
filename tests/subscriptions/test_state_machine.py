"""Random sequences of agent actions (previewed or carried out) and billing events on one subscription never reach
an invalid state, a negative amount, or a customer row that disagrees with customers.services.derived_state.

Charges reach the sandbox gateway (a card that succeeds or one that is declined), so the machine runs on committed
data (`money_db`); each run starts a customer of its own.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from customers.models import Customer
from customers.services import derived_state
from payments.credit import credit_balance, credit_grant
from payments.models import Invoice, Payment
from subscriptions import services
from subscriptions.models import Subscription
from subscriptions.state import subscription_record
from subscriptions.transitions import STATES, event_target
from tests.factories import InvoiceFactory, PaymentFactory
from tests.subscriptions.factories import snapshot, subscription_in

S = Subscription.Status
MACHINE_SETTINGS = settings(max_examples=60, stateful_step_count=20, deadline=None, derandomize=True,
                            database=None, suppress_health_check=list(HealthCheck))


def _current(customer_id: int) -> Subscription | None:
    live_first = Case(When(status__in=Subscription.LIVE_STATUSES, then=Value(0)), default=Value(1))
    return (Subscription.objects.filter(customer_id=customer_id).select_related("plan")
            .order_by(live_first, "-started_at", "-id").first())


def test_random_actions_keep_every_rule(ann, plans):
    class Actions(RuleBasedStateMachine):
        @initialize(status=st.sampled_from([S.TRIAL, S.ACTIVE]), days_in=st.integers(0, 29),
                    declined=st.booleans(), monthly=st.booleans(), seed=st.integers(0, 2**32))
        def start(self, status, days_in, declined, monthly, seed):
            self.rng = random.Random(seed)
            plan = plans.basic if monthly else plans.basic_yearly
            self.subscription = subscription_in(status, plan=plan, days_into_period=days_in,
                                                period_days=30 if monthly else 365,
                                                card="pm_card_chargeDeclined" if declined else "pm_card_visa")
            self.interval, self.currency = plan.interval, plan.currency
            self.stale = Subscription.objects.get(pk=self.subscription.pk)

        def fresh(self) -> Subscription:
            return Subscription.objects.get(pk=self.subscription.pk)

        def act(self, service, preview: bool, **kwargs):
            before = snapshot(self.subscription) if preview else None
            try:
                result = service(subscription=self.fresh(), actor=ann, preview=preview, **kwargs)
            except services.ActionRefused as refusal:
                event(f"{service.__name__}: refused, {refusal.code}")
                assert refusal.message and refusal.code and refusal.status in (409, 422)
                if preview:
                    assert snapshot(self.subscription) == before
                return
            event(f"{service.__name__}: {'previewed' if preview else 'changed' if result.changed else 'no-op'}")
            impact = result.impact
            assert min(impact.charge_now, impact.credit_now, impact.next_invoice_amount, impact.mrr_before,
                       impact.mrr_after) >= 0
            assert impact.summary and result.message
            if preview:
                assert snapshot(self.subscription) == before

        # One rule takes every step, with the run's seeded random.Random, so each action and each of its arguments
        # is as likely as any other (Hypothesis's own draws favour a machine's first rules and the first of each
        # choice); Hypothesis still varies the start, the seed and the number of steps, and shrinks them.
        @rule()
        def step(self):
            rng = self.rng
            steps = [self.change_plan, self.change_plan, self.cancel, self.undo_cancel, self.pause, self.pause,
                     self.resume, self.extend_trial, self.cancel_scheduled_change, self.renewal_fails,
                     self.dunning_ends, self.a_payment_is_pending_or_settles, self.credit_is_granted]
            if rng.random() < 0.05:
                self.cancel_with_what_the_page_loaded_first(False, rng)
            else:
                rng.choice(steps)(rng.random() < 0.3, rng)

        # ---- Agent actions ------------------------------------------------------------------------------------
        def change_plan(self, preview, rng):
            move = rng.choice(["up", "up", "down", "down", "same", "other_interval", "other_currency", "inactive"])
            when = rng.choice([None, "now", "renewal"])
            monthly = self.interval == "month"
            ladder = [plans.basic, plans.pro, plans.team] if monthly else [plans.basic_yearly, plans.pro_yearly]
            at = ladder.index(self.fresh().plan)
            plan = {"up": ladder[min(at + 1, len(ladder) - 1)], "down": ladder[max(at - 1, 0)], "same": ladder[at],
                    "other_interval": plans.pro_yearly if monthly else plans.pro, "other_currency": plans.pro_eur,
                    "inactive": plans.legacy}[move]
            self.act(services.subscription_change_plan, preview, plan=plan, when=when)

        def cancel(self, preview, rng):
            self.act(services.subscription_cancel, preview, when=rng.choice(["now", "period_end", "period_end", "period_end"]),
                     reason=rng.choice(Subscription.CancelReason.values), after_settle=rng.random() < 0.5)

        def undo_cancel(self, preview, rng):
            self.act(services.subscription_cancel_undo, preview)

        def pause(self, preview, rng):
            resume_in = rng.choice([None, 0, 1, 30, 400])
            resume_on = timezone.localdate() + timedelta(days=resume_in) if resume_in else None
            self.act(services.subscription_pause, preview, resume_on=resume_on)

        def resume(self, preview, rng):
            self.act(services.subscription_resume, preview)

        def extend_trial(self, preview, rng):
            days = rng.choice([rng.randint(1, 30), rng.randint(1, 30), 0, 61, 91])
            self.act(services.subscription_extend_trial, preview, days=days)

        def cancel_scheduled_change(self, preview, rng):
            self.act(services.subscription_scheduled_change_cancel, preview)

        def cancel_with_what_the_page_loaded_first(self, preview, rng):
            """An agent acting on the subscription as it was when the run started: done, or refused as changed."""
            try:
                services.subscription_cancel(subscription=self.stale, when="period_end", reason="other", actor=ann)
            except services.ActionRefused as refusal:
                assert refusal.code in ("changed_meanwhile", "not_allowed_in_state", "payment_pending",
                                        "paused_cancel_now")

        # ---- What the billing side and the customer do meanwhile ------------------------------------------------
        def renewal_fails(self, preview, rng):
            with transaction.atomic():
                subscription = Subscription.objects.select_for_update(no_key=True).get(pk=self.subscription.pk)
                if event_target(subscription.status, "renewal_failed") is None:
                    return
                invoice = InvoiceFactory(customer=subscription.customer, subscription=subscription,
                                         status=Invoice.Status.OPEN, subtotal=subscription.plan.price,
                                         currency=self.currency, next_retry_at=timezone.now() + timedelta(days=1))
                PaymentFactory(customer=subscription.customer, invoice=invoice, amount=invoice.total,
                               currency=self.currency, status=Payment.Status.FAILED)
                subscription_record(subscription, actor=None, action="renewal_failed", summary="Renewal failed",
                                    changes={"status": S.GRACE})

        def dunning_ends(self, preview, rng):
            with transaction.atomic():
                subscription = Subscription.objects.select_for_update(no_key=True).get(pk=self.subscription.pk)
                if event_target(subscription.status, "dunning_exhausted") is None:
                    return
                Invoice.objects.filter(subscription=subscription, status=Invoice.Status.OPEN).update(
                    next_retry_at=None)
                subscription_record(subscription, actor=None, action="dunning_exhausted", summary="Suspended",
                                    changes={"status": S.SUSPENDED, "suspended_at": timezone.now()})

        def a_payment_is_pending_or_settles(self, preview, rng):
            customer = Customer.objects.get(pk=self.subscription.customer_id)
            if rng.random() < 0.5:
                Payment.objects.filter(customer=customer, status=Payment.Status.PENDING).update(
                    status=Payment.Status.SUCCEEDED)
            else:
                PaymentFactory(customer=customer, status=Payment.Status.PENDING, currency=self.currency)

        def credit_is_granted(self, preview, rng):
            credit_grant(customer=Customer.objects.get(pk=self.subscription.customer_id),
                         amount=rng.randint(1, 5000), reason="Goodwill", actor=ann)

        # ---- Rules that always hold ---------------------------------------------------------------------------
        @invariant()
        def the_subscription_is_valid(self):
            if not hasattr(self, "subscription"):
                return
            subscription = Subscription.objects.select_related("plan").get(pk=self.subscription.pk)
            assert subscription.status in STATES
            assert subscription.current_period_start <= subscription.current_period_end
            assert (subscription.plan.interval, subscription.plan.currency) == (self.interval, self.currency)
            assert subscription.scheduled_plan_id != subscription.plan_id
            assert subscription.cancel_after_settle in ("", "now", "period_end")
            if subscription.status == S.CANCELLED:
                assert subscription.ended_at is not None and subscription.cancel_reason
            if subscription.status == S.PAUSED:
                assert subscription.paused_at is not None
            if subscription.cancel_at_period_end and subscription.status != S.CANCELLED:
                assert subscription.cancelled_at is not None and subscription.cancel_reason

        @invariant()
        def no_amount_is_negative(self):
            if not hasattr(self, "subscription"):
                return
            customer_id = self.subscription.customer_id
            assert credit_balance(customer_id) >= 0
            assert not Invoice.objects.filter(customer_id=customer_id, total__lt=0).exists()
            assert not Payment.objects.filter(customer_id=customer_id, amount__lt=0).exists()

        @invariant()
        def the_customer_agrees_with_its_subscriptions(self):
            if not hasattr(self, "subscription"):
                return
            customer = Customer.objects.get(pk=self.subscription.customer_id)
            expected = derived_state(customer, _current(customer.pk))
            assert {name: getattr(customer, name) for name in expected} == expected
            assert Subscription.objects.filter(customer=customer, status__in=Subscription.LIVE_STATUSES).count() <= 1

    run_state_machine_as_test(Actions, settings=MACHINE_SETTINGS)

