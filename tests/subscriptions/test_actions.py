"""Each subscription action: what it changes, what it charges or credits, what it says, and when it refuses.

Tests that reach the sandbox gateway (a charge is made after a real commit) run on `money_db` with the `ann` agent;
the others run in a transaction with the `agent` persona.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from payments.credit import credit_balance, credit_grant
from payments.models import CreditEntry, Invoice, Payment
from portal.errors import DomainError
from subscriptions import services
from subscriptions.models import Subscription, SubscriptionRequest
from tests.factories import PaymentFactory
from tests.subscriptions.factories import outstanding_invoice, snapshot, subscription_events, subscription_in

S = Subscription.Status


def refused(call, **kwargs) -> services.ActionRefused:
    with pytest.raises(services.ActionRefused) as caught:
        call(**kwargs)
    return caught.value


# ---- Change plan -------------------------------------------------------------------------------------------------

def test_an_upgrade_now_charges_the_rest_of_the_period(ann, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.basic, days_into_period=18)  # 12 of 30 days left
    result = services.subscription_change_plan(subscription=subscription, plan=plans.pro, actor=ann)
    invoice = Invoice.objects.get(subscription=subscription)
    assert (invoice.status, invoice.total, [line["amount"] for line in invoice.lines]) == ("paid", 1360, [1960, -600])
    assert invoice.period_end == subscription.current_period_end and invoice.number.startswith("INV-")
    assert result.payment.status == Payment.Status.SUCCEEDED and result.payment.amount == 1360
    assert result.changed and result.subscription.plan == plans.pro
    assert result.message == "Changed from Basic to Pro. Charged $13.60 on Visa •••• 4242."
    assert result.impact.summary.startswith("Charges $13.60 now for the rest of this period; renews at $49.00 on ")
    assert (result.impact.charge_now, result.impact.credit_now, result.impact.mrr_before,
            result.impact.mrr_after) == (1360, 0, 1500, 4900)
    customer = Customer.objects.get(pk=subscription.customer_id)
    assert (customer.plan_id, customer.mrr) == (plans.pro.pk, 4900)
    assert subscription_events(subscription) == ["plan_changed"]


def test_account_credit_pays_the_proration_first(ann, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.basic, days_into_period=18)
    credit_grant(customer=subscription.customer, amount=1000, reason="Goodwill", actor=ann)
    result = services.subscription_change_plan(subscription=subscription, plan=plans.pro, actor=ann)
    assert result.payment.amount == 360 and result.payment.status == Payment.Status.SUCCEEDED
    assert credit_balance(subscription.customer_id) == 0
    assert "account credit of $10.00 pays first" in result.impact.lines[-1]


def test_a_declined_upgrade_keeps_the_new_plan_and_leaves_the_invoice_open(ann, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.basic, days_into_period=18, card="pm_card_chargeDeclined")
    result = services.subscription_change_plan(subscription=subscription, plan=plans.pro, actor=ann)
    assert result.subscription.plan == plans.pro and result.payment.status == Payment.Status.FAILED
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.status == Invoice.Status.OPEN
    assert "was declined" in result.message and f"Invoice {invoice.number} stays open" in result.message


def test_a_downgrade_waits_for_the_renewal_unless_asked_now(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    result = services.subscription_change_plan(subscription=subscription, plan=plans.basic, actor=agent)
    assert result.impact.when == "renewal" and result.subscription.plan == plans.pro
    assert result.subscription.scheduled_plan == plans.basic
    assert result.impact.summary.startswith("Changes to Basic on ")
    assert result.impact.summary.endswith("Nothing is charged now.")
    assert (result.impact.mrr_before, result.impact.mrr_after) == (4900, 1500)
    assert not Invoice.objects.filter(subscription=subscription).exists()
    assert Customer.objects.get(pk=subscription.customer_id).mrr == 4900  # until the renewal
    assert subscription_events(subscription) == ["plan_change_scheduled"]
    again = services.subscription_change_plan(subscription=result.subscription, plan=plans.basic, when="renewal",
                                              actor=agent)
    assert not again.changed and "already set to change to Basic" in again.message
    assert again.impact.next_invoice_amount == 1500  # the renewal charges the scheduled plan
    assert subscription_events(subscription) == ["plan_change_scheduled"]


def test_a_downgrade_now_gives_the_difference_as_credit(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro, days_into_period=18)
    result = services.subscription_change_plan(subscription=subscription, plan=plans.basic, when="now", actor=agent)
    entry = CreditEntry.objects.get(customer=subscription.customer)
    assert (entry.kind, entry.amount, entry.reason) == ("grant", 1360, "Unused time on Pro")
    assert (result.impact.charge_now, result.impact.credit_now) == (0, 1360)
    assert result.payment is None and not Invoice.objects.filter(subscription=subscription).exists()
    assert result.message == "Changed from Pro to Basic; $13.60 of account credit added for the unused time."


def test_an_upgrade_drops_a_scheduled_change(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro, scheduled_plan=plans.basic)
    result = services.subscription_change_plan(subscription=subscription, plan=plans.team, actor=agent)
    assert result.subscription.scheduled_plan is None
    assert "The scheduled change to Basic is dropped." in result.impact.lines


def test_a_trial_switches_plan_without_a_charge(agent, plans):
    subscription = subscription_in(S.TRIAL, plan=plans.pro)
    result = services.subscription_change_plan(subscription=subscription, plan=plans.basic, actor=agent)
    assert result.impact.when == "now" and result.subscription.plan == plans.basic
    assert (result.impact.charge_now, result.impact.credit_now) == (0, 0)
    assert not Invoice.objects.filter(customer=subscription.customer).exists()
    assert not CreditEntry.objects.filter(customer=subscription.customer).exists()


@pytest.mark.parametrize(("target", "code", "sentence"), [
    ("basic", "same_plan", "The subscription is already on Basic."),
    ("pro_eur", "plan_currency", "Pro EUR is billed in EUR and this subscription in USD: a plan change cannot switch "
                                 "currency. Cancel at period end and start a new subscription instead."),
    ("pro_yearly", "plan_interval", "Switching between monthly and yearly is not supported here: cancel at period end "
                                    "and start a new subscription."),
    ("legacy", "plan_inactive", "Legacy is no longer offered: choose an active plan."),
])
def test_a_plan_change_is_refused_with_its_reason(agent, plans, target, code, sentence):
    subscription = subscription_in(S.ACTIVE, plan=plans.basic)
    before = snapshot(subscription)
    for preview in (True, False):
        error = refused(services.subscription_change_plan, subscription=subscription, plan=getattr(plans, target),
                        actor=agent, preview=preview)
        assert (error.code, error.message, error.status) == (code, sentence, 422)
    assert snapshot(subscription) == before


def test_an_upgrade_needs_a_way_to_pay(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.basic)
    subscription.customer.payment_methods.all().delete()
    error = refused(services.subscription_change_plan, subscription=subscription, plan=plans.pro, actor=agent)
    assert error.code == "no_method" and "send the customer a card-update link first" in error.message


def test_a_renewal_change_needs_a_renewal(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro, cancel_at_period_end=True)
    error = refused(services.subscription_change_plan, subscription=subscription, plan=plans.basic, when="renewal",
                    actor=agent)
    assert (error.code, error.status) == ("no_renewal", 409)


def test_a_scheduled_change_can_be_cancelled_once(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro, scheduled_plan=plans.basic)
    result = services.subscription_scheduled_change_cancel(subscription=subscription, actor=agent)
    assert result.changed and result.subscription.scheduled_plan is None
    assert result.message == "The change to Basic is cancelled; the subscription stays on Pro."
    assert result.impact.next_invoice_amount == 4900
    again = services.subscription_scheduled_change_cancel(subscription=result.subscription, actor=agent)
    assert not again.changed and again.message == "No plan change is scheduled; nothing changed."
    assert subscription_events(subscription) == ["plan_change_unscheduled"]


# ---- Cancel ------------------------------------------------------------------------------------------------------

def test_cancel_now_ends_it_without_a_refund(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    result = services.subscription_cancel(subscription=subscription, when="now", reason="too_expensive", actor=agent)
    cancelled = result.subscription
    assert (cancelled.status, cancelled.cancel_reason) == (S.CANCELLED, "too_expensive")
    assert cancelled.cancelled_at == cancelled.ended_at is not None
    assert "No refund is made; refund the last payment separately if needed." in result.impact.summary
    assert (result.impact.mrr_before, result.impact.mrr_after) == (4900, 0)
    customer = Customer.objects.get(pk=subscription.customer_id)
    assert (customer.status, customer.mrr, customer.plan_id) == (Customer.Status.CHURNED, 0, None)
    again = services.subscription_cancel(subscription=cancelled, when="now", reason="other", actor=agent)
    assert not again.changed and again.message.startswith("The subscription is already cancelled")
    assert subscription_events(subscription) == ["cancelled"]


def test_cancel_at_period_end_twice_is_one_change(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    first = services.subscription_cancel(subscription=subscription, when="period_end", reason="not_using",
                                         actor=agent)
    assert first.changed and first.subscription.status == S.ACTIVE and first.subscription.cancel_at_period_end
    assert first.impact.summary.startswith("Cancels on ") and first.impact.when == "period_end"
    second = services.subscription_cancel(subscription=first.subscription, when="period_end", reason="not_using",
                                          actor=agent)
    assert not second.changed and second.message.startswith("The subscription is already set to cancel on ")
    assert subscription_events(subscription) == ["cancel_scheduled"]
    assert Customer.objects.get(pk=subscription.customer_id).status == Customer.Status.ACTIVE


def test_cancel_needs_a_reason_and_a_moment(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    assert refused(services.subscription_cancel, subscription=subscription, when="now", reason="",
                   actor=agent).code == "invalid_reason"
    assert refused(services.subscription_cancel, subscription=subscription, when="later", reason="other",
                   actor=agent).code == "invalid_when"


def test_a_pending_payment_blocks_cancel_and_offers_to_cancel_once_it_settles(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    pending = PaymentFactory(customer=subscription.customer, status=Payment.Status.PENDING,
                             created_at=timezone.now())
    before = snapshot(subscription)
    error = refused(services.subscription_cancel, subscription=subscription, when="now", reason="other",
                    actor=agent)
    clock = timezone.localtime(pending.created_at).strftime("%H:%M")
    assert error.message == f"Cancel is blocked: payment {pending.public_id} is pending since {clock}."
    assert (error.code, error.status, error.verdict.offer) == ("payment_pending", 409, "cancel_when_settled")
    assert snapshot(subscription) == before
    verdict = services.action_verdicts(subscription, actor=agent)["cancel"]
    assert (verdict.allowed, verdict.reason, verdict.offer) == (False, error.message, "cancel_when_settled")

    waiting = services.subscription_cancel(subscription=subscription, when="period_end", reason="other",
                                           actor=agent, after_settle=True)
    assert waiting.changed and waiting.impact.when == "when_settled"
    assert (waiting.subscription.status, waiting.subscription.cancel_after_settle,
            waiting.subscription.cancel_reason) == (S.ACTIVE, "period_end", "other")
    assert services.action_verdicts(waiting.subscription, actor=agent)["undo_cancel"].allowed
    undone = services.subscription_cancel_undo(subscription=waiting.subscription, actor=agent)
    assert undone.changed and undone.subscription.cancel_after_settle == ""
    assert subscription_events(subscription) == ["cancel_when_settled", "cancel_undone"]


def test_an_invoice_in_dunning_blocks_cancel(agent, plans):
    subscription = subscription_in(S.GRACE, plan=plans.pro)
    error = refused(services.subscription_cancel, subscription=subscription, when="now", reason="other",
                    actor=agent)
    invoice = outstanding_invoice(subscription)
    assert error.code == "payment_pending" and error.message.startswith(
        f"Cancel is blocked: invoice {invoice.number} is in dunning (next retry ")


def test_a_paused_subscription_is_cancelled_now(agent, plans):
    subscription = subscription_in(S.PAUSED, plan=plans.pro)
    assert refused(services.subscription_cancel, subscription=subscription, when="period_end", reason="other",
                   actor=agent).code == "paused_cancel_now"
    result = services.subscription_cancel(subscription=subscription, when="now", reason="other", actor=agent)
    assert result.subscription.status == S.CANCELLED


def test_undo_with_nothing_to_undo_is_a_no_op(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    result = services.subscription_cancel_undo(subscription=subscription, actor=agent)
    assert not result.changed and result.message == "The subscription is not set to cancel; nothing to undo."
    assert subscription_events(subscription) == []


def test_undo_keeps_a_subscription_set_to_cancel(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    cancelled = services.subscription_cancel(subscription=subscription, when="period_end", reason="other",
                                             actor=agent).subscription
    result = services.subscription_cancel_undo(subscription=cancelled, actor=agent)
    kept = result.subscription
    assert (kept.cancel_at_period_end, kept.cancelled_at, kept.cancel_reason) == (False, None, "")
    assert result.impact.summary.startswith("Keeps the subscription: it renews at $49.00 on ")


# ---- Pause and resume --------------------------------------------------------------------------------------------

def test_pause_stops_billing_until_the_resume_date(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    resume_on = timezone.localdate() + timedelta(days=30)
    result = services.subscription_pause(subscription=subscription, resume_on=resume_on, actor=agent)
    paused = result.subscription
    assert (paused.status, paused.resume_on) == (S.PAUSED, resume_on) and paused.paused_at is not None
    assert (result.impact.charge_now, result.impact.credit_now, result.impact.mrr_after) == (0, 0, 0)
    customer = Customer.objects.get(pk=subscription.customer_id)
    assert (customer.status, customer.mrr, customer.resumes_on) == (Customer.Status.ACTIVE, 0, resume_on)
    again = services.subscription_pause(subscription=paused, actor=agent)
    assert not again.changed and again.message.startswith("The subscription is already paused until ")
    assert subscription_events(subscription) == ["paused"]


@pytest.mark.parametrize("days", [0, -3, 366])
def test_the_resume_date_is_in_the_coming_year(agent, plans, days):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    error = refused(services.subscription_pause, subscription=subscription, actor=agent,
                    resume_on=timezone.localdate() + timedelta(days=days))
    assert error.code == "invalid_resume_on" and "after today and at most 365 days away" in error.message


def test_resume_continues_the_paid_period_after_the_pause(agent, plans):
    subscription = subscription_in(S.PAUSED, plan=plans.pro)
    shift = timezone.now() - subscription.paused_at
    result = services.subscription_resume(subscription=subscription, actor=agent)
    resumed = result.subscription
    assert resumed.status == S.ACTIVE and resumed.paused_at is None and result.payment is None
    moved = resumed.current_period_end - subscription.current_period_end
    assert abs(moved - shift) < timedelta(seconds=5)
    assert resumed.current_period_end - resumed.current_period_start == timedelta(days=30)
    assert Customer.objects.get(pk=subscription.customer_id).mrr == 4900
    again = services.subscription_resume(subscription=resumed, actor=agent)
    assert not again.changed and again.message == "The subscription is already active; nothing changed."


def test_resuming_a_suspended_subscription_charges_its_invoice_first(ann, plans):
    subscription = subscription_in(S.SUSPENDED, plan=plans.pro)
    result = services.subscription_resume(subscription=subscription, actor=ann)
    assert result.changed and result.subscription.status == S.ACTIVE
    assert result.payment.status == Payment.Status.SUCCEEDED and result.payment.amount == 4900
    assert result.message == "Charged $49.00 on Visa •••• 4242; the subscription is active again."
    assert outstanding_invoice_count(subscription) == 0
    assert Customer.objects.get(pk=subscription.customer_id).mrr == 4900
    assert subscription_events(subscription) == ["payment_recovered"]


def outstanding_invoice_count(subscription) -> int:
    return Invoice.objects.filter(subscription=subscription, status=Invoice.Status.OPEN).count()


def test_a_declined_resume_leaves_it_suspended(ann, plans):
    subscription = subscription_in(S.SUSPENDED, plan=plans.pro, card="pm_card_chargeDeclined")
    error = refused(services.subscription_resume, subscription=subscription, actor=ann)
    assert error.code == "charge_declined"
    assert error.message.startswith("The charge of $49.00 on Visa •••• 4242 was declined: ")
    assert error.message.endswith("; the subscription stays suspended.")
    subscription.refresh_from_db()
    assert subscription.status == S.SUSPENDED and subscription_events(subscription) == []


def test_credit_alone_can_pay_a_resume(ann, plans):
    subscription = subscription_in(S.SUSPENDED, plan=plans.pro)
    credit_grant(customer=subscription.customer, amount=4900, reason="Goodwill", actor=ann)
    preview = services.subscription_resume(subscription=subscription, actor=ann, preview=True)
    assert preview.impact.charge_now == 0 and preview.impact.summary.startswith("Account credit pays invoice")
    result = services.subscription_resume(subscription=subscription, actor=ann)
    assert result.changed and result.payment is None and result.subscription.status == S.ACTIVE


# ---- Trials ------------------------------------------------------------------------------------------------------

def test_a_trial_is_extended(agent, plans):
    subscription = subscription_in(S.TRIAL, plan=plans.pro)
    result = services.subscription_extend_trial(subscription=subscription, days=14, actor=agent)
    assert result.subscription.trial_end == subscription.trial_end + timedelta(days=14)
    assert result.subscription.current_period_end == subscription.current_period_end + timedelta(days=14)
    assert result.impact.next_invoice_at == result.subscription.trial_end
    assert result.impact.summary.endswith("; the first charge of $49.00 is then.")


def test_the_trial_cap_says_how_many_days_are_left(agent, plans, settings):
    settings.PORTAL = {**settings.PORTAL, "MAX_TRIAL_DAYS": 40}
    subscription = subscription_in(S.TRIAL, plan=plans.pro)  # a 30-day trial
    error = refused(services.subscription_extend_trial, subscription=subscription, days=11, actor=agent)
    assert (error.code, error.message) == ("trial_cap", "A trial lasts at most 40 days in total: at most 10 more "
                                                        "days can be added.")
    full = services.subscription_extend_trial(subscription=subscription, days=10, actor=agent).subscription
    error = refused(services.subscription_extend_trial, subscription=full, days=1, actor=agent)
    assert error.message == "The trial already lasts the maximum of 40 days; no more days can be added."
    assert services.action_verdicts(full, actor=agent)["extend_trial"].code == "trial_cap"


@pytest.mark.parametrize("days", [0, 91, -1, True, "7"])
def test_a_trial_is_extended_by_1_to_90_days(agent, plans, days):
    subscription = subscription_in(S.TRIAL, plan=plans.pro)
    error = refused(services.subscription_extend_trial, subscription=subscription, days=days, actor=agent)
    assert (error.code, error.message, error.status) == ("invalid_days", "Extend the trial by 1 to 90 days.", 422)


# ---- Preview, repeats, races -------------------------------------------------------------------------------------

def _calls(plans):
    return {
        "change_plan_now": (S.ACTIVE, services.subscription_change_plan, {"plan": plans.pro}),
        "change_plan_down": (S.ACTIVE, services.subscription_change_plan, {"plan": plans.basic, "when": "now"}),
        "change_plan_renewal": (S.ACTIVE, services.subscription_change_plan, {"plan": plans.team,
                                                                               "when": "renewal"}),
        "cancel_now": (S.ACTIVE, services.subscription_cancel, {"when": "now", "reason": "other"}),
        "cancel_period_end": (S.ACTIVE, services.subscription_cancel, {"when": "period_end", "reason": "other"}),
        "pause": (S.ACTIVE, services.subscription_pause, {}),
        "resume_paused": (S.PAUSED, services.subscription_resume, {}),
        "resume_suspended": (S.SUSPENDED, services.subscription_resume, {}),
        "extend_trial": (S.TRIAL, services.subscription_extend_trial, {"days": 7}),
        "undo_cancel": (S.ACTIVE, services.subscription_cancel_undo, {}),
        "scheduled_change_cancel": (S.ACTIVE, services.subscription_scheduled_change_cancel, {}),
    }


CALLS = ["change_plan_now", "change_plan_down", "change_plan_renewal", "cancel_now", "cancel_period_end", "pause",
         "resume_paused", "resume_suspended", "extend_trial", "undo_cancel", "scheduled_change_cancel"]


@pytest.mark.parametrize("name", CALLS)
def test_a_preview_changes_nothing_and_shows_what_the_action_does(ann, plans, name):
    status, service, kwargs = _calls(plans)[name]
    middle = plans.basic if name != "change_plan_down" else plans.team
    subscription = subscription_in(status, plan=middle, cancel_at_period_end=name == "undo_cancel",
                                   scheduled_plan=plans.pro if name == "scheduled_change_cancel" else None)
    before = snapshot(subscription)
    preview = service(subscription=subscription, actor=ann, preview=True, **kwargs)
    assert snapshot(subscription) == before
    assert preview.changed and preview.message == preview.impact.summary
    done = service(subscription=subscription, actor=ann, **kwargs)
    assert done.changed
    time_independent = {"charge_now", "credit_now"} if name.startswith("change_plan_") and name != \
        "change_plan_renewal" else set()
    for name_, value in vars(preview.impact).items():
        if name_ in ("summary", "lines", "next_invoice_at") or name_ in time_independent:
            continue
        assert getattr(done.impact, name_) == value, name_
    if time_independent:  # a few milliseconds passed: the proration may move by a minor unit
        assert abs(done.impact.charge_now - preview.impact.charge_now) <= 1
        assert abs(done.impact.credit_now - preview.impact.credit_now) <= 1


def test_the_same_request_acts_once(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    first = services.subscription_cancel(subscription=subscription, when="period_end", reason="other", actor=agent,
                                         request_key="form:abc")
    again = services.subscription_cancel(subscription=subscription, when="period_end", reason="other", actor=agent,
                                         request_key="form:abc")
    assert (again.changed, again.message, again.impact) == (first.changed, first.message, first.impact)
    assert subscription_events(subscription) == ["cancel_scheduled"]
    assert SubscriptionRequest.objects.get(request_key="form:abc").changed
    error = refused(services.subscription_cancel, subscription=subscription, when="now", reason="other", actor=agent,
                    request_key="form:abc")
    assert (error.code, error.status) == ("idempotency_conflict", 409)


def test_a_repeated_upgrade_charges_once(ann, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.basic)
    first = services.subscription_change_plan(subscription=subscription, plan=plans.pro, actor=ann,
                                              request_key="form:up")
    again = services.subscription_change_plan(subscription=subscription, plan=plans.pro, actor=ann,
                                              request_key="form:up")
    assert again.payment == first.payment and again.message == first.message
    assert Payment.objects.filter(customer=subscription.customer).count() == 1


def test_an_upgrade_whose_charge_was_never_sent_is_charged_by_its_retry(ann, plans):
    """The process stopped between the plan change and the charge: the same request charges the invoice."""
    subscription = subscription_in(S.ACTIVE, plan=plans.basic)
    from unittest import mock

    with mock.patch.object(services, "_charge", side_effect=RuntimeError("worker stopped")):
        with pytest.raises(RuntimeError):
            services.subscription_change_plan(subscription=subscription, plan=plans.pro, actor=ann,
                                              request_key="form:lost")
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.status == Invoice.Status.OPEN and not invoice.payments.exists()
    retry = services.subscription_change_plan(subscription=subscription, plan=plans.pro, actor=ann,
                                              request_key="form:lost")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and retry.payment.status == Payment.Status.SUCCEEDED
    assert subscription_events(subscription) == ["plan_changed"]


def test_an_action_on_a_subscription_that_changed_meanwhile_is_refused(agent, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.basic)
    stale = Subscription.objects.get(pk=subscription.pk)
    services.subscription_cancel(subscription=subscription, when="period_end", reason="other", actor=agent)
    error = refused(services.subscription_change_plan, subscription=stale, plan=plans.pro, actor=agent)
    assert (error.code, error.status) == ("changed_meanwhile", 409)
    assert error.message.startswith("The subscription changed while this was being done (it is now active on Basic, "
                                    "set to cancel on ")


# ---- The menu ----------------------------------------------------------------------------------------------------

def test_the_menu_costs_one_query(agent, plans, django_assert_max_num_queries):
    subscription = Subscription.objects.select_related("plan").get(
        pk=subscription_in(S.ACTIVE, plan=plans.pro).pk)
    agent.has_perm("portal.view_customers")  # the role is loaded once per request, before the menu
    with django_assert_max_num_queries(1):
        verdicts = services.action_verdicts(subscription, actor=agent)
    assert set(verdicts) == {"change_plan", "cancel", "undo_cancel", "pause", "resume", "extend_trial",
                             "scheduled_change_cancel"}
    assert verdicts["change_plan"].allowed and verdicts["cancel"].allowed and verdicts["pause"].allowed
    assert verdicts["resume"].reason == "The subscription is not paused."
    suspended = Subscription.objects.select_related("plan").get(
        pk=subscription_in(S.SUSPENDED, plan=plans.pro).pk)
    with django_assert_max_num_queries(1):
        assert services.action_verdicts(suspended, actor=agent)["resume"].allowed


def test_the_menu_refuses_everything_to_a_role_without_subscriptions(plans, viewer):
    verdicts = services.action_verdicts(subscription_in(S.ACTIVE, plan=plans.pro), actor=viewer)
    assert {verdict.code for verdict in verdicts.values()} == {"role"}


def test_domain_errors_keep_their_type(agent, plans):
    """Pages and the API catch DomainError: a refused action is one."""
    subscription = subscription_in(S.CANCELLED, plan=plans.pro)
    with pytest.raises(DomainError):
        services.subscription_pause(subscription=subscription, actor=agent)



def test_an_upgrade_the_charge_refuses_stays_open_and_its_retry_charges_it(ann, plans):
    """The card was removed between the change and its charge: the invoice stays open, and the same request made
    again charges it once a method is back."""
    from unittest import mock

    subscription = subscription_in(S.ACTIVE, plan=plans.basic)
    no_method = DomainError("No payment method on file: send the customer a card-update link.", code="no_method")
    with mock.patch.object(services, "invoice_charge", side_effect=no_method):
        result = services.subscription_change_plan(subscription=subscription, plan=plans.pro, actor=ann,
                                                   request_key="form:nocard")
    invoice = Invoice.objects.get(subscription=subscription)
    assert result.changed and result.payment is None and result.subscription.plan == plans.pro
    assert result.message.endswith(f"Invoice {invoice.number} stays open: No payment method on file: send the "
                                   f"customer a card-update link.")
    retry = services.subscription_change_plan(subscription=subscription, plan=plans.pro, actor=ann,
                                              request_key="form:nocard")
    assert retry.payment.status == Payment.Status.SUCCEEDED and retry.message.endswith("on Visa •••• 4242.")
    assert subscription_events(subscription) == ["plan_changed"]
