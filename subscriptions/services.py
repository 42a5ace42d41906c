"""Subscription actions, one function per verb: change plan, cancel and keep, pause and resume, extend a trial.

Interim implementation: the API (signatures, Impact, ActionResult, refusals as DomainError) is the one the pages
are written against; the money side (charging the proration through the gateway, refunds on cancel) is not
carried out here yet, and `request_key` is accepted but not yet used to replay a repeated submit.

Every action can be previewed (`preview=True`): the same checks, and the Impact, without changing anything.
Lock order: customer → subscription.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from customers.models import Customer
from payments.models import Invoice, Payment
from portal.errors import DomainError
from portal.money import format_money
from subscriptions.models import Plan, Subscription
from subscriptions.state import subscription_record
from subscriptions.transitions import ACTIONS, ALLOWED, Verdict, allowed

S = Subscription.Status
BILLING = (S.ACTIVE, S.GRACE)


@dataclass(frozen=True)
class Impact:
    action: str
    when: str
    charge_now: int
    credit_now: int
    currency: str
    next_invoice_at: datetime | None
    next_invoice_amount: int
    mrr_before: int
    mrr_after: int
    summary: str
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ActionResult:
    subscription: Subscription
    impact: Impact
    changed: bool
    message: str
    payment: Payment | None = None
    verdict: Verdict | None = None


# ---- Reads -----------------------------------------------------------------------------------------------------

def _day(value) -> str:
    return f"{value.day} {value:%b %Y}" if value else ""


def _mrr(subscription: Subscription, plan: Plan | None = None, status: str | None = None) -> int:
    return (plan or subscription.plan).monthly_price if (status or subscription.status) in BILLING else 0


def _pending_payment(subscription: Subscription) -> str:
    """The public id of a payment in flight (or of the last attempt on an invoice in dunning), or ""."""
    pending = (Payment.objects.filter(customer_id=subscription.customer_id,
                                      status__in=[Payment.Status.PENDING, Payment.Status.UNKNOWN])
               .order_by("-created_at", "-id").values_list("public_id", flat=True).first())
    if pending:
        return pending
    invoice = (Invoice.objects.filter(subscription=subscription, status=Invoice.Status.OPEN,
                                      next_retry_at__isnull=False).order_by("-issued_at", "-id").first())
    if invoice is None:
        return ""
    return (Payment.objects.filter(invoice=invoice).order_by("-created_at", "-id")
            .values_list("public_id", flat=True).first() or invoice.number)


def _trial_days(subscription: Subscription) -> int:
    end = subscription.trial_end or subscription.current_period_end
    return max(0, (end - subscription.started_at).days)


def _other_plans(subscription: Subscription):
    return Plan.objects.filter(is_active=True, currency=subscription.plan.currency).exclude(pk=subscription.plan_id)


def action_verdicts(subscription: Subscription, *, actor) -> dict[str, Verdict]:
    """Every action of transitions.ACTIONS for this subscription: allowed, or refused with its sentence."""
    verdicts = {action: allowed(subscription.status, action) for action in ACTIONS}
    waiting = subscription.cancel_at_period_end or bool(subscription.cancel_after_settle)
    if verdicts["undo_cancel"].allowed and not waiting:
        verdicts["undo_cancel"] = Verdict(False, "The subscription is not set to cancel.", "nothing_to_undo")
    if verdicts["cancel"].allowed:
        if subscription.cancel_after_settle:
            verdicts["cancel"] = Verdict(False, "A cancel already waits for the pending payment to settle.",
                                         "cancel_waiting")
        elif pending := _pending_payment(subscription):
            verdicts["cancel"] = Verdict(False, f"Payment {pending} has not settled yet: cancel once it settles, "
                                                f"so it is not charged after the cancel.", "payment_pending",
                                         "cancel_when_settled")
    if verdicts["change_plan"].allowed and not _other_plans(subscription).exists():
        verdicts["change_plan"] = Verdict(False, f"No other plan is offered in {subscription.plan.currency}.",
                                          "no_plan")
    if verdicts["extend_trial"].allowed and _trial_days(subscription) >= settings.PORTAL["MAX_TRIAL_DAYS"]:
        verdicts["extend_trial"] = Verdict(False, f"The trial already has the maximum of "
                                                  f"{settings.PORTAL['MAX_TRIAL_DAYS']} days.", "trial_cap")
    verdicts["scheduled_change_cancel"] = (ALLOWED if subscription.scheduled_plan_id and subscription.is_live
                                           else Verdict(False, "No plan change is scheduled.", "nothing_scheduled"))
    return verdicts


def _check(subscription: Subscription, action: str, actor) -> None:
    verdict = action_verdicts(subscription, actor=actor)[action]
    if not verdict.allowed:
        raise DomainError(verdict.reason, code=verdict.code)


def _locked(subscription: Subscription) -> Subscription:
    Customer.objects.select_for_update(no_key=True).get(pk=subscription.customer_id)
    return (Subscription.objects.select_for_update(no_key=True, of=("self",))
            .select_related("plan", "customer", "scheduled_plan").get(pk=subscription.pk))


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _noop(subscription: Subscription, action: str, message: str) -> ActionResult:
    """A request for the state the subscription is already in: nothing to write, and a sentence that says so."""
    plan = subscription.plan
    impact = Impact(action=action, when="now", charge_now=0, credit_now=0, currency=plan.currency,
                    next_invoice_at=None, next_invoice_amount=0, mrr_before=_mrr(subscription),
                    mrr_after=_mrr(subscription), summary=message, lines=[])
    return ActionResult(subscription=subscription, impact=impact, changed=False, message=message, verdict=ALLOWED)


def _result(subscription, impact, *, preview, changed=True, message=""):
    """In a preview `changed` says whether the action would change something."""
    return ActionResult(subscription=subscription, impact=impact, changed=changed,
                        message=message or impact.summary, verdict=ALLOWED)


# ---- Change plan -----------------------------------------------------------------------------------------------

@transaction.atomic
def subscription_change_plan(*, subscription: Subscription, plan: Plan, when: str | None = None, actor,
                             preview: bool = False, request_key: str | None = None) -> ActionResult:
    subscription = _locked(subscription)
    _check(subscription, "change_plan", actor)
    current = subscription.plan
    if plan.pk == current.pk:
        raise DomainError(f"The subscription is already on {plan.name}.", code="same_plan")
    if not plan.is_active:
        raise DomainError(f"{plan.name} is no longer offered.", code="plan_inactive")
    if plan.currency != current.currency:
        raise DomainError(f"{plan.name} is billed in {plan.currency}; this subscription is billed in "
                          f"{current.currency}.", code="plan_currency")
    if plan.interval != current.interval:
        raise DomainError("Switching between monthly and yearly is not supported here: cancel at period end and "
                          "start a new subscription.", code="plan_interval")
    upgrade = (plan.rank, plan.monthly_price) > (current.rank, current.monthly_price)
    when = when or ("now" if upgrade or subscription.status == S.TRIAL else "renewal")
    if when not in ("now", "renewal"):
        raise DomainError("Choose when the change takes effect: now or at renewal.", code="invalid_when")
    now = timezone.now()
    end, start = subscription.current_period_end, subscription.current_period_start
    money = lambda amount: format_money(amount, current.currency)  # noqa: E731
    verb = "Upgraded" if upgrade else "Downgraded"
    if when == "renewal" or subscription.status == S.TRIAL:
        charge = credit = 0
    else:
        period = max((end - start).total_seconds(), 1)
        left = min(max((end - now).total_seconds(), 0), period) / period
        difference = round(plan.price * left) - round(current.price * left)
        charge, credit = max(difference, 0), max(-difference, 0)
    lines = [f"{current.name} ({money(current.price)}/{current.interval}) → {plan.name} "
             f"({money(plan.price)}/{plan.interval})"]
    if when == "now":
        if subscription.status == S.TRIAL:
            lines.append("During the trial: nothing is charged now.")
        else:
            lines.append(f"Unused time on {current.name} is credited against {plan.name} until {_day(end)}.")
        summary = (f"{verb} to {plan.name}: " + (f"charged {money(charge)} now; " if charge else "")
                   + (f"{money(credit)} credited now; " if credit else "")
                   + f"renews at {money(plan.price)} on {_day(end)}.")
        changes = {"plan": plan, "scheduled_plan": None}
    else:
        summary = f"Changes to {plan.name} on {_day(end)}, renewing at {money(plan.price)}."
        changes = {"scheduled_plan": plan}
    impact = Impact(action="change_plan", when=when, charge_now=charge, credit_now=credit, currency=current.currency,
                    next_invoice_at=end, next_invoice_amount=plan.price, mrr_before=_mrr(subscription),
                    mrr_after=_mrr(subscription, plan), summary=summary, lines=lines)
    if not preview:
        subscription_record(subscription, actor=actor, action="plan_changed" if when == "now" else "plan_scheduled",
                            summary=summary, changes=changes,
                            data={"from": current.code, "to": plan.code, "when": when, "charge": charge,
                                  "credit": credit})
    return _result(subscription, impact, preview=preview)


@transaction.atomic
def subscription_scheduled_change_cancel(*, subscription: Subscription, actor,
                                         request_key: str | None = None) -> ActionResult:
    subscription = _locked(subscription)
    scheduled = subscription.scheduled_plan
    if scheduled is None:
        raise DomainError("No plan change is scheduled.", code="nothing_scheduled")
    money = format_money(subscription.plan.price, subscription.plan.currency)
    summary = f"Scheduled change to {scheduled.name} cancelled; renews on {subscription.plan.name} at {money}."
    impact = Impact(action="scheduled_change_cancel", when="now", charge_now=0, credit_now=0,
                    currency=subscription.plan.currency, next_invoice_at=subscription.current_period_end,
                    next_invoice_amount=subscription.plan.price, mrr_before=_mrr(subscription),
                    mrr_after=_mrr(subscription), summary=summary, lines=[])
    subscription_record(subscription, actor=actor, action="plan_change_cancelled", summary=summary,
                        changes={"scheduled_plan": None}, data={"was": scheduled.code})
    return _result(subscription, impact, preview=False)


# ---- Cancel ----------------------------------------------------------------------------------------------------

@transaction.atomic
def subscription_cancel(*, subscription: Subscription, when: str = "now", reason: str, actor,
                        preview: bool = False, after_settle: bool = False,
                        request_key: str | None = None) -> ActionResult:
    subscription = _locked(subscription)
    if reason not in Subscription.CancelReason.values:
        raise DomainError("Choose why the customer is cancelling.", code="invalid_reason")
    if when not in ("now", "period_end"):
        raise DomainError("Choose when the cancel takes effect: now or at the end of the period.",
                          code="invalid_when")
    verdict = action_verdicts(subscription, actor=actor)["cancel"]
    if not verdict.allowed and not (after_settle and verdict.code == "payment_pending"):
        raise DomainError(verdict.reason, code=verdict.code)
    if after_settle and verdict.code != "payment_pending":
        raise DomainError("No payment is pending: cancel it now instead.", code="nothing_pending")
    now = timezone.now()
    plan = subscription.plan
    label = Subscription.CancelReason(reason).label
    end = subscription.current_period_end
    if after_settle:
        summary = f"Cancels ({'now' if when == 'now' else 'at period end'}) once the pending payment settles " \
                  f"(reason: {label})."
        changes = {"cancel_after_settle": when, "cancel_reason": reason}
    elif when == "now":
        summary = f"Cancelled now (reason: {label}); access ends today."
        changes = {"status": S.CANCELLED, "cancelled_at": now, "ended_at": now, "cancel_reason": reason,
                   "cancel_at_period_end": False, "scheduled_plan": None}
    else:
        summary = f"Cancels on {_day(end)} (reason: {label}); access until then, no further charge."
        changes = {"cancel_at_period_end": True, "cancelled_at": now, "cancel_reason": reason,
                   "scheduled_plan": None}
    impact = Impact(action="cancel", when=when, charge_now=0, credit_now=0, currency=plan.currency,
                    next_invoice_at=None, next_invoice_amount=0, mrr_before=_mrr(subscription), mrr_after=0,
                    summary=summary, lines=["No refund is issued for the current period."] if when == "now" else [])
    if not preview:
        subscription_record(subscription, actor=actor, action="cancel_waiting" if after_settle else "cancelled",
                            summary=summary, changes=changes, data={"when": when, "reason": reason})
    return _result(subscription, impact, preview=preview)


@transaction.atomic
def subscription_cancel_undo(*, subscription: Subscription, actor, preview: bool = False,
                             request_key: str | None = None) -> ActionResult:
    subscription = _locked(subscription)
    if subscription.is_live and not (subscription.cancel_at_period_end or subscription.cancel_after_settle):
        return _noop(subscription, "undo_cancel", "The subscription is not set to cancel; nothing to undo.")
    _check(subscription, "undo_cancel", actor)
    plan = subscription.plan
    amount = (subscription.scheduled_plan or plan).price
    summary = f"Kept: renews on {_day(subscription.current_period_end)} at {format_money(amount, plan.currency)}."
    impact = Impact(action="undo_cancel", when="now", charge_now=0, credit_now=0, currency=plan.currency,
                    next_invoice_at=subscription.current_period_end, next_invoice_amount=amount,
                    mrr_before=_mrr(subscription), mrr_after=_mrr(subscription), summary=summary, lines=[])
    if not preview:
        subscription_record(subscription, actor=actor, action="cancel_undone", summary=summary,
                            changes={"cancel_at_period_end": False, "cancel_after_settle": "", "cancelled_at": None,
                                     "cancel_reason": ""})
    return _result(subscription, impact, preview=preview)


# ---- Pause and resume ------------------------------------------------------------------------------------------

@transaction.atomic
def subscription_pause(*, subscription: Subscription, resume_on: date | None = None, actor, preview: bool = False,
                       request_key: str | None = None) -> ActionResult:
    subscription = _locked(subscription)
    _check(subscription, "pause", actor)
    today = timezone.localdate()
    if resume_on is not None and resume_on <= today:
        raise DomainError("The resume date must be after today.", code="invalid_resume_on")
    if resume_on is not None and resume_on > _add_months(today, 12):
        raise DomainError("A pause lasts at most a year.", code="invalid_resume_on")
    plan = subscription.plan
    summary = (f"Paused until {_day(resume_on)}: no invoices meanwhile." if resume_on
               else "Paused with no resume date: no invoices until it is resumed.")
    impact = Impact(action="pause", when="now", charge_now=0, credit_now=0, currency=plan.currency,
                    next_invoice_at=(timezone.make_aware(datetime.combine(resume_on, datetime.min.time()))
                                     if resume_on else None),
                    next_invoice_amount=plan.price if resume_on else 0, mrr_before=_mrr(subscription), mrr_after=0,
                    summary=summary, lines=[])
    if not preview:
        subscription_record(subscription, actor=actor, action="paused", summary=summary,
                            changes={"status": S.PAUSED, "paused_at": timezone.now(), "resume_on": resume_on},
                            data={"resume_on": resume_on.isoformat() if resume_on else None})
    return _result(subscription, impact, preview=preview)


@transaction.atomic
def subscription_resume(*, subscription: Subscription, actor, preview: bool = False,
                        request_key: str | None = None) -> ActionResult:
    subscription = _locked(subscription)
    if subscription.status == S.ACTIVE:
        return _noop(subscription, "resume", "The subscription is already active; nothing changed.")
    _check(subscription, "resume", actor)
    plan = subscription.plan
    if subscription.status == S.SUSPENDED:
        unpaid = Invoice.objects.filter(subscription=subscription, status=Invoice.Status.OPEN).first()
        if unpaid is not None:
            raise DomainError(f"Invoice {unpaid.number} is unpaid: get it paid (retry it, or send a card-update "
                              f"link) to resume.", code="invoice_unpaid")
    now = timezone.now()
    end = subscription.current_period_end if subscription.current_period_end > now else now + timedelta(days=30)
    summary = f"Resumed: renews on {_day(end)} at {format_money(plan.price, plan.currency)}."
    impact = Impact(action="resume", when="now", charge_now=0, credit_now=0, currency=plan.currency,
                    next_invoice_at=end, next_invoice_amount=plan.price, mrr_before=_mrr(subscription),
                    mrr_after=plan.monthly_price, summary=summary, lines=[])
    if not preview:
        changes = {"status": S.ACTIVE, "paused_at": None, "resume_on": None, "suspended_at": None,
                   "current_period_end": end}
        if end != subscription.current_period_end:
            changes["current_period_start"] = now
        subscription_record(subscription, actor=actor, action="resumed", summary=summary, changes=changes)
    return _result(subscription, impact, preview=preview)


# ---- Trial -----------------------------------------------------------------------------------------------------

@transaction.atomic
def subscription_extend_trial(*, subscription: Subscription, days: int, actor, preview: bool = False,
                              request_key: str | None = None) -> ActionResult:
    subscription = _locked(subscription)
    _check(subscription, "extend_trial", actor)
    cap = settings.PORTAL["MAX_TRIAL_DAYS"]
    if days < 1:
        raise DomainError("Extend the trial by at least one day.", code="invalid_days")
    if _trial_days(subscription) + days > cap:
        left = cap - _trial_days(subscription)
        raise DomainError(f"A trial lasts at most {cap} days: it can be extended by {left} more "
                          f"day{'s' if left != 1 else ''}.", code="trial_cap")
    plan = subscription.plan
    end = (subscription.trial_end or subscription.current_period_end) + timedelta(days=days)
    summary = f"Trial extended by {days} day{'s' if days != 1 else ''}: ends {_day(end)}, then " \
              f"{format_money(plan.price, plan.currency)}."
    impact = Impact(action="extend_trial", when="now", charge_now=0, credit_now=0, currency=plan.currency,
                    next_invoice_at=end, next_invoice_amount=plan.price, mrr_before=0, mrr_after=0,
                    summary=summary, lines=[])
    if not preview:
        subscription_record(subscription, actor=actor, action="trial_extended", summary=summary,
                            changes={"trial_end": end, "current_period_end": end}, data={"days": days})
    return _result(subscription, impact, preview=preview)
