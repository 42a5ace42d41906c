"""Agent actions on a subscription, the same through the profile, the API and any job: change the plan (now, with
proration, or at renewal), drop a scheduled plan change, cancel (now, at period end, or once a pending payment
settles), undo a cancel, pause, resume, extend a trial.

Every action is one function, `subscription_<verb>(*, subscription, …, actor, preview=False, request_key=None)`,
and each goes through the same steps, in this order:

1. A request for the state the subscription is already in (cancel at period end twice, pause a paused
   subscription, undo when nothing is set to cancel, resume an active one, schedule the change already scheduled)
   is a no-op: `changed=False` and a sentence that says so; nothing is written, no second audit event.
2. The transition table (subscriptions/transitions.py), then the checks that need more than the state: a pending
   payment blocks cancel, the trial cap, the plan's currency and interval, the resume date. A refusal raises
   `ActionRefused`, a DomainError carrying the Verdict (sentence, code and a way out such as
   `offer="cancel_when_settled"`): 409 when it is the subscription's state that refuses (not allowed in this state,
   a payment pending, changed meanwhile), 422 when it is the request (days out of range, another currency).
3. Preview or act through the same code. `preview=True` computes the Impact the action would have and writes
   nothing (no rows, no audit); a preview of an action that would be refused raises the same ActionRefused, so
   `ActionResult.verdict` is never set by these services (the profile's menu reads `action_verdicts` instead).
4. Acting locks the customer, then the subscription (FOR NO KEY UPDATE; invoices and payments after them, as in
   payments/), re-reads them, refuses with `changed_meanwhile` when the subscription changed since the caller loaded
   it (two agents at once: the first wins, the second is told), and records the change through
   subscriptions.state.subscription_record: the audit row, the timeline, the customer's status, plan and MRR.
5. With a `request_key` (a form token, or the user and the API's Idempotency-Key) the action happens once: the same
   request again answers with what the first one did (SubscriptionRequest); the same key with other values is
   refused.

Money: a plan change now in a paid period is prorated (subscriptions/proration.py). A positive difference is
invoiced and charged at once through payments.charges.invoice_charge (account credit first), after this module's
transaction has committed, so no lock is held during the gateway call; if the charge is declined the plan change
stands and the invoice stays open, to be retried like any other. A negative difference becomes account credit,
which pays the next invoice first. Pausing keeps the unused rest of the paid period and resuming continues it: the
period moves on by the length of the pause, so nothing is charged or credited either way. Resuming a suspended
subscription charges its outstanding invoice first; the payment's outcome brings it back (payments/outcomes.py).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Subquery, Value
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from customers.models import Customer
from customers.services import derived_state
from payments.charges import default_method, invoice_charge
from payments.credit import credit_add_for_proration, credit_balance
from payments.invoices import invoice_issue, invoice_line
from payments.models import Invoice, Payment, PaymentMethod
from payments.outcomes import invoice_amount_outstanding
from portal.errors import DomainError
from portal.money import format_money as _money
from portal.roles import Cap, has_capability
from subscriptions import transitions
from subscriptions.models import Plan, Subscription, SubscriptionRequest
from subscriptions.proration import prorate, renewal_amount, resumed_period
from subscriptions.state import subscription_record
from subscriptions.transitions import ACTIONS, ALLOWED, Verdict

S = Subscription.Status
NOW, RENEWAL, PERIOD_END, WHEN_SETTLED = "now", "renewal", "period_end", "when_settled"
CANCEL_WHEN = (NOW, PERIOD_END)
PLAN_CHANGE_WHEN = (NOW, RENEWAL)
MAX_EXTEND_DAYS = 90
MAX_PAUSE_DAYS = 365
SCHEDULED_CHANGE_CANCEL = "scheduled_change_cancel"  # not in the table: it only drops a scheduled plan change

# Refusals that come from the subscription's state (409); every other refusal is about the request (422).
CONFLICT_CODES = frozenset({"not_allowed_in_state", "payment_pending", "changed_meanwhile", "idempotency_conflict",
                            "charge_in_progress", "cancel_pending", "no_renewal", "no_outstanding_invoice"})


@dataclass(frozen=True)
class Impact:
    """What an action does, computed by the same code whether it is previewed or carried out.

    Amounts are minor units of the subscription's currency. `when`: "now", "renewal", "period_end" or
    "when_settled". `mrr_after` is the subscription's MRR once the action has taken effect (at renewal or period end
    for those). `summary` is one sentence; `lines` the breakdown."""

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
    """`changed`: whether the action changed anything (in a preview: whether it would). `payment`: the charge the
    action made (a proration or a resume). `verdict`: always None here, refusals raise ActionRefused (see above)."""

    subscription: Subscription
    impact: Impact
    changed: bool
    message: str
    payment: Payment | None = None
    verdict: Verdict | None = None


class ActionRefused(DomainError):
    """A refused subscription action: the sentence, a stable code, the HTTP status it maps to and the Verdict."""

    def __init__(self, verdict: Verdict):
        super().__init__(verdict.reason, code=verdict.code)
        self.status = 409 if verdict.code in CONFLICT_CODES else 422
        self.verdict = verdict


def _refuse(reason: str, code: str, offer: str = ""):
    raise ActionRefused(Verdict(False, reason, code, offer))


# ---- Words ------------------------------------------------------------------------------------------------------

def _day(moment: datetime | date | None) -> str:
    """'1 Jan', or '1 Jan 2028' outside the current year (local time)."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        moment = timezone.localtime(moment).date()
    return f"{moment.day} {moment:%b}" + ("" if moment.year == timezone.localdate().year else f" {moment.year}")


def _clock(moment: datetime) -> str:
    """'10:42' today, '2 Dec 10:42' on another day (local time)."""
    local = timezone.localtime(moment)
    return f"{local:%H:%M}" if local.date() == timezone.localdate() else f"{_day(local)} {local:%H:%M}"


def _days(microseconds: int, *, unit: bool = True) -> str:
    """'12 days', '1 day', '12.5 days' (to a tenth); without the unit: '12'."""
    days = round(microseconds / 86_400_000_000, 1)
    return f"{days:g}" + (f" day{'' if days == 1 else 's'}" if unit else "")


# ---- Facts the rules read ---------------------------------------------------------------------------------------

def _mrr(subscription: Subscription, **changes) -> int:
    """The subscription's MRR by the one owner's rule (customers.services.derived_state), after `changes`."""
    changed = copy.copy(subscription)
    for name, value in changes.items():
        setattr(changed, name, value)
    return derived_state(subscription.customer, changed)["mrr"]


def _renewal(subscription: Subscription, plan: Plan | None = None) -> int:
    """What the next renewal charges: `plan`, else the plan scheduled for it, else the current one."""
    plan = plan or subscription.scheduled_plan or subscription.plan
    return renewal_amount(plan.price, subscription.discount_percent, subscription.discount_cycles_left)


def _payment_blocker(customer_id: int) -> str:
    """Why a cancel must wait (a payment of the customer pending or unknown, or an open invoice in dunning), in
    one query; "" when nothing is pending."""
    payments = (Payment.objects.filter(customer_id=customer_id, status__in=[Payment.Status.PENDING,
                                                                            Payment.Status.UNKNOWN])
                .annotate(kind=Value("payment"), ident=F("public_id"), moment=F("created_at"), state=F("status"))
                .values_list("kind", "ident", "moment", "state"))
    dunning = (Invoice.objects.filter(customer_id=customer_id, status=Invoice.Status.OPEN, next_retry_at__isnull=False)
               .annotate(kind=Value("invoice"), ident=F("number"), moment=F("next_retry_at"), state=F("status"))
               .values_list("kind", "ident", "moment", "state"))
    rows = sorted(payments.union(dunning, all=True), key=lambda row: (row[0] != "payment", row[2]))
    if not rows:
        return ""
    kind, ident, moment, state = rows[0]
    if kind == "invoice":
        return (f"Cancel is blocked: invoice {ident} is in dunning (next retry on {_day(moment)} at "
                f"{timezone.localtime(moment):%H:%M}).")
    if state == Payment.Status.UNKNOWN:
        return f"Cancel is blocked: payment {ident} is being checked with the gateway since {_clock(moment)}."
    return f"Cancel is blocked: payment {ident} is pending since {_clock(moment)}."


def _trial_days_left(subscription: Subscription) -> int:
    """Whole days that may still be added to the trial under settings.PORTAL["MAX_TRIAL_DAYS"]."""
    cap = timedelta(days=settings.PORTAL["MAX_TRIAL_DAYS"])
    trial_end = subscription.trial_end or subscription.current_period_end
    return max((subscription.started_at + cap - trial_end) // timedelta(days=1), 0)


def _cancel_pending_refusal(subscription: Subscription) -> str:
    if subscription.cancel_at_period_end:
        return f"The subscription cancels on {_day(subscription.current_period_end)}: undo the cancel first."
    if subscription.cancel_after_settle:
        return "The subscription is set to cancel once its pending payment settles: undo the cancel first."
    return ""


def _outstanding(subscription: Subscription) -> Invoice | None:
    """The open invoice a suspended subscription owes (the newest), in one query, with its latest attempt
    (`latest_id`, `latest_status`) and whether the customer has a default payment method (`has_method`)."""
    latest = Payment.objects.filter(invoice_id=OuterRef("pk")).order_by("-created_at", "-id")
    return (Invoice.objects.filter(subscription_id=subscription.pk, status=Invoice.Status.OPEN)
            .annotate(latest_id=Subquery(latest.values("public_id")[:1]),
                      latest_status=Subquery(latest.values("status")[:1]),
                      has_method=Exists(PaymentMethod.objects.filter(customer_id=subscription.customer_id,
                                                                     is_default=True)))
            .order_by("-issued_at", "-id").first())


def _resume_refusal(invoice: Invoice | None, amount_due: int) -> Verdict:
    """May a suspended subscription be resumed: an open invoice to collect (from `_outstanding`), no attempt on it
    still processing, and a payment method for what account credit does not pay (`amount_due`)."""
    if invoice is None:
        return Verdict(False, "No open invoice belongs to this suspended subscription, so there is nothing to "
                              "collect: start a new subscription instead.", "no_outstanding_invoice")
    if invoice.latest_status in (Payment.Status.PENDING, Payment.Status.UNKNOWN):
        return Verdict(False, f"A charge for invoice {invoice.number} ({invoice.latest_id}) is still processing; "
                              f"the subscription becomes active when it succeeds.", "charge_in_progress")
    if amount_due > 0 and not invoice.has_method:
        return Verdict(False, "No payment method on file: send the customer a card-update link, then resume.",
                       "no_method")
    return ALLOWED


def _check(subscription: Subscription, action: str, loaded: Subscription | None) -> None:
    """The table's answer, then (when acting) whether the subscription is still the one the caller loaded."""
    verdict = transitions.allowed(subscription.status, action)
    if not verdict.allowed:
        raise ActionRefused(verdict)
    _unchanged_since(subscription, loaded)


def _unchanged_since(subscription: Subscription, loaded: Subscription | None) -> None:
    """Refuse when the locked row is newer than the one the caller decided on (another action got there first)."""
    if loaded is None or loaded.updated_at is None or loaded.updated_at == subscription.updated_at:
        return
    state = subscription.get_status_display().lower()
    cancels = f", set to cancel on {_day(subscription.current_period_end)}" if subscription.cancel_at_period_end else ""
    _refuse(f"The subscription changed while this was being done (it is now {state} on {subscription.plan.name}"
            f"{cancels}): look at it again before retrying.", "changed_meanwhile")


# ---- What each action does ----------------------------------------------------------------------------------------

@dataclass
class _Change:
    """An action worked out on the current rows: its impact, and what carrying it out writes."""

    impact: Impact
    message: str  # what the agent reads once it is done (or, for a no-op, why nothing was done)
    noop: bool = False
    changes: dict = field(default_factory=dict)  # subscription fields
    verb: str = ""  # the audit action: subscriptions.subscription.<verb>
    timeline: str = ""
    data: dict = field(default_factory=dict)
    credit: int = 0  # account credit granted (proration)
    credit_reason: str = ""
    invoice_lines: list[dict] = field(default_factory=list)  # an invoice issued and charged (proration)
    invoice_from: datetime | None = None  # the start of the invoice's period (the moment of the change)
    collect: Invoice | None = None  # an invoice charged before anything changes (resume of a suspended one)


def _impact(subscription: Subscription, action: str, summary: str, *, when: str = NOW, charge_now: int = 0,
            credit_now: int = 0, next_invoice_at: datetime | None = None, next_invoice_amount: int = 0,
            mrr_after: int | None = None, lines: list[str] | None = None, currency: str | None = None) -> Impact:
    mrr_before = _mrr(subscription)
    return Impact(action=action, when=when, charge_now=charge_now, credit_now=credit_now,
                  currency=currency or subscription.plan.currency, next_invoice_at=next_invoice_at,
                  next_invoice_amount=next_invoice_amount if next_invoice_at is not None else 0,
                  mrr_before=mrr_before, mrr_after=mrr_before if mrr_after is None else mrr_after,
                  summary=summary, lines=lines or [])


def _noop(subscription: Subscription, action: str, message: str) -> _Change:
    renews = subscription.is_live and subscription.status != S.PAUSED and not subscription.cancel_at_period_end
    return _Change(_impact(subscription, action, message,
                           next_invoice_at=subscription.current_period_end if renews else None,
                           next_invoice_amount=_renewal(subscription)), message, noop=True)


def _is_downgrade(old: Plan, new: Plan) -> bool:
    """Lower rank, or the same rank at a lower price."""
    return (new.rank, new.price) < (old.rank, old.price)


def _plan_change(subscription: Subscription, now: datetime, loaded: Subscription | None, *, plan: Plan,
                 when: str | None) -> _Change:
    old, new, currency = subscription.plan, plan, subscription.plan.currency
    if when is not None and when not in PLAN_CHANGE_WHEN:
        _refuse("Say when: \"now\" or \"renewal\".", "invalid_when")
    if when == RENEWAL and subscription.is_live and subscription.scheduled_plan_id == new.pk:
        return _noop(subscription, "change_plan", f"{old.name} is already set to change to {new.name} on "
                                                  f"{_day(subscription.current_period_end)}; nothing changed.")
    _check(subscription, "change_plan", loaded)
    if new.pk == old.pk:
        scheduled = subscription.scheduled_plan
        _refuse(f"The subscription is already on {old.name}."
                + (f" To keep it, cancel the scheduled change to {scheduled.name}." if scheduled else ""), "same_plan")
    if not new.is_active:
        _refuse(f"{new.name} is no longer offered: choose an active plan.", "plan_inactive")
    if new.currency != old.currency:
        _refuse(f"{new.name} is billed in {new.currency} and this subscription in {old.currency}: a plan change "
                f"cannot switch currency. Cancel at period end and start a new subscription instead.",
                "plan_currency")
    if new.interval != old.interval:
        _refuse("Switching between monthly and yearly is not supported here: cancel at period end and start a new "
                "subscription.", "plan_interval")
    trial = subscription.status == S.TRIAL
    if when is None:
        when = NOW if trial or not _is_downgrade(old, new) else RENEWAL
    end = subscription.current_period_end
    renews_at = _money(_renewal(subscription, new), currency)
    dropped = ([f"The scheduled change to {subscription.scheduled_plan.name} is dropped."]
               if subscription.scheduled_plan_id and subscription.scheduled_plan_id != new.pk else [])
    base = {"from_plan": old.code, "to_plan": new.code}

    if when == RENEWAL:
        if subscription.cancel_at_period_end:
            _refuse(f"The subscription cancels on {_day(end)}, so there is no renewal to change the plan at: undo "
                    f"the cancel first, or change the plan now.", "no_renewal")
        summary = f"Changes to {new.name} on {_day(end)}; renews at {renews_at} then. Nothing is charged now."
        return _Change(
            _impact(subscription, "change_plan", summary, when=RENEWAL, next_invoice_at=end,
                    next_invoice_amount=_renewal(subscription, new), mrr_after=_mrr(subscription, plan=new),
                    lines=[f"Stays on {old.name} until {_day(end)}.",
                           f"From {_day(end)}: {new.name} at {_money(new.price, currency)} a {new.interval}.",
                           *dropped]),
            f"{old.name} changes to {new.name} on {_day(end)}; nothing is charged now.",
            changes={"scheduled_plan": new}, verb="plan_change_scheduled",
            timeline=f"Plan change from {old.name} to {new.name} scheduled for {_day(end)}",
            data={**base, "on": end.isoformat()})

    changes = {"plan": new, "scheduled_plan": None}
    if trial:
        first = subscription.trial_end or end
        summary = (f"Switches to {new.name} now with no charge (in trial); the first charge of {renews_at} is on "
                   f"{_day(first)}.")
        return _Change(
            _impact(subscription, "change_plan", summary, next_invoice_at=first,
                    next_invoice_amount=_renewal(subscription, new), mrr_after=_mrr(subscription, plan=new),
                    lines=["Trials are not prorated: nothing was paid yet.", *dropped]),
            f"Changed from {old.name} to {new.name}; the trial continues.", changes=changes, verb="plan_changed",
            timeline=f"Plan changed from {old.name} to {new.name} (in trial, no charge)", data=base)

    share = prorate(old_price=old.price, new_price=new.price, start=subscription.current_period_start, end=end,
                    at=now)
    net = share.net
    balance = credit_balance(subscription.customer_id) if net > 0 else 0
    if net > balance and default_method(subscription.customer_id) is None:
        _refuse(f"No payment method on file to charge the {_money(net, currency)} for the rest of this period: "
                f"send the customer a card-update link first.", "no_method")
    unused = f"{_days(share.remaining, unit=False)} of {_days(share.period)}"
    lines = [f"Unused time on {old.name} ({unused}): −{_money(share.credit, currency)}",
             f"{new.name} for the rest of the period, to {_day(end)}: {_money(share.charge, currency)}"]
    if net > 0:
        summary = (f"Charges {_money(net, currency)} now for the rest of this period; renews at {renews_at} on "
                   f"{_day(end)}.")
        lines.append(f"Due now: {_money(net, currency)}"
                     + (f" (account credit of {_money(min(balance, net), currency)} pays first)" if balance else ""))
    elif net < 0:
        summary = (f"Adds {_money(-net, currency)} of account credit for the unused time; renews at {renews_at} on "
                   f"{_day(end)}.")
        lines.append(f"Account credit added: {_money(-net, currency)} (it pays the next invoice first)")
    else:
        summary = f"Switches now with nothing to pay; renews at {renews_at} on {_day(end)}."
    invoice_lines = []
    if net > 0:
        invoice_lines = [invoice_line(f"{new.name} from now to {_day(end)}", share.charge)]
        if share.credit:
            invoice_lines.append(invoice_line(f"Unused time on {old.name}", -share.credit))
    return _Change(
        _impact(subscription, "change_plan", summary, charge_now=max(net, 0), credit_now=max(-net, 0),
                next_invoice_at=end, next_invoice_amount=_renewal(subscription, new),
                mrr_after=_mrr(subscription, plan=new), lines=[*lines, *dropped]),
        f"Changed from {old.name} to {new.name}"
        + (f"; {_money(-net, currency)} of account credit added for the unused time." if net < 0 else "."),
        changes=changes, verb="plan_changed",
        timeline=f"Plan changed from {old.name} to {new.name}"
                 + (f" ({_money(net, currency)} for the rest of the period)" if net > 0
                    else f" ({_money(-net, currency)} credit for the unused time)" if net < 0 else ""),
        data={**base, "charge": share.charge, "credit": share.credit, "net": net, "currency": currency},
        credit=max(-net, 0), credit_reason=f"Unused time on {old.name}", invoice_lines=invoice_lines,
        invoice_from=now)


def _scheduled_change_cancel(subscription: Subscription, now: datetime, loaded: Subscription | None) -> _Change:
    scheduled = subscription.scheduled_plan
    if scheduled is None:
        return _noop(subscription, SCHEDULED_CHANGE_CANCEL, "No plan change is scheduled; nothing changed.")
    if subscription.status in Subscription.ENDED_STATUSES:
        raise ActionRefused(transitions.allowed(subscription.status, "change_plan"))
    _unchanged_since(subscription, loaded)
    plan, end = subscription.plan, subscription.current_period_end
    renews = _renewal(subscription, plan)
    summary = (f"Keeps {plan.name} at the renewal on {_day(end)} ({_money(renews, plan.currency)}) instead of "
               f"changing to {scheduled.name}.")
    return _Change(
        _impact(subscription, SCHEDULED_CHANGE_CANCEL, summary, next_invoice_at=end, next_invoice_amount=renews),
        f"The change to {scheduled.name} is cancelled; the subscription stays on {plan.name}.",
        changes={"scheduled_plan": None}, verb="plan_change_unscheduled",
        timeline=f"Scheduled change to {scheduled.name} cancelled; stays on {plan.name}",
        data={"plan": plan.code, "dropped_plan": scheduled.code})


def _cancel(subscription: Subscription, now: datetime, loaded: Subscription | None, *, when: str, reason: str,
            after_settle: bool) -> _Change:
    if when not in CANCEL_WHEN:
        _refuse("Say when: \"now\" or \"period_end\".", "invalid_when")
    if reason not in Subscription.CancelReason.values:
        _refuse(f"Choose a reason: {', '.join(Subscription.CancelReason.values)}.", "invalid_reason")
    end, plan = subscription.current_period_end, subscription.plan
    if subscription.status == S.CANCELLED:
        return _noop(subscription, "cancel", f"The subscription is already cancelled (since "
                                             f"{_day(subscription.ended_at or subscription.cancelled_at)}); "
                                             f"nothing changed.")
    if when == PERIOD_END and subscription.cancel_at_period_end and subscription.is_live:
        return _noop(subscription, "cancel", f"The subscription is already set to cancel on {_day(end)}; "
                                             f"nothing changed.")
    _check(subscription, "cancel", loaded)
    if when == PERIOD_END and subscription.status == S.PAUSED:
        _refuse("A paused subscription gives no access and has no period running: cancel it now (nothing is "
                "refunded either way).", "paused_cancel_now")
    label = Subscription.CancelReason(reason).label.lower()
    dropped = ([f"The scheduled change to {subscription.scheduled_plan.name} is dropped."]
               if subscription.scheduled_plan_id else [])
    no_refund = ("Nothing was charged during the trial." if subscription.status == S.TRIAL
                 else "No refund is made; refund the last payment separately if needed.")
    blocker = _payment_blocker(subscription.customer_id)
    if blocker:
        if not after_settle:
            _refuse(blocker, "payment_pending", offer="cancel_when_settled")
        if subscription.cancel_after_settle == when:
            return _noop(subscription, "cancel", "The subscription is already set to cancel once the payment "
                                                 "settles; nothing changed.")
        moment = "now" if when == NOW else f"at the end of the period ({_day(end)})"
        summary = (f"Cancels {moment} once the pending payment settles; nothing changes until then. "
                   f"{no_refund}")
        return _Change(
            _impact(subscription, "cancel", summary, when=WHEN_SETTLED, mrr_after=0,
                    next_invoice_at=None, lines=[blocker.replace("Cancel is blocked: ", "Waiting for: ")]),
            f"The subscription will cancel {moment} once the pending payment settles.",
            changes={"cancel_after_settle": when, "cancel_reason": reason}, verb="cancel_when_settled",
            timeline=f"Set to cancel {'now' if when == NOW else 'at period end'} once the pending payment settles "
                     f"({label})", data={"when": when, "reason": reason})
    if when == NOW:
        summary = f"Cancels now: access ends immediately. {no_refund}"
        return _Change(
            _impact(subscription, "cancel", summary, mrr_after=0, lines=[f"Reason: {label}", *dropped]),
            f"Cancelled {plan.name} now. {no_refund}",
            changes={"status": S.CANCELLED, "cancelled_at": now, "ended_at": now, "cancel_reason": reason,
                     "cancel_at_period_end": False, "cancel_after_settle": "", "scheduled_plan": None},
            verb="cancelled", timeline=f"Subscription cancelled now ({label})", data={"when": NOW, "reason": reason})
    what = "the trial ends" if subscription.status == S.TRIAL else "the period ends"
    summary = f"Cancels on {_day(end)}, when {what}; access continues until then. {no_refund}"
    return _Change(
        _impact(subscription, "cancel", summary, when=PERIOD_END, mrr_after=0,
                lines=[f"Reason: {label}", "It can be undone until then.", *dropped]),
        f"{plan.name} cancels on {_day(end)}; access continues until then.",
        changes={"cancel_at_period_end": True, "cancelled_at": now, "cancel_reason": reason,
                 "cancel_after_settle": "", "scheduled_plan": None},
        verb="cancel_scheduled", timeline=f"Set to cancel on {_day(end)} ({label})",
        data={"when": PERIOD_END, "reason": reason, "on": end.isoformat()})


def _cancel_undo(subscription: Subscription, now: datetime, loaded: Subscription | None) -> _Change:
    if subscription.is_live and not subscription.cancel_at_period_end and not subscription.cancel_after_settle:
        return _noop(subscription, "undo_cancel", "The subscription is not set to cancel; nothing to undo.")
    _check(subscription, "undo_cancel", loaded)
    plan, end = subscription.plan, subscription.current_period_end
    if subscription.status == S.PAUSED:
        summary, next_at = "Keeps the subscription (paused); it is no longer set to cancel.", None
    elif subscription.status == S.TRIAL:
        summary = f"Keeps the trial: it converts on {_day(end)} at {_money(_renewal(subscription), plan.currency)}."
        next_at = end
    else:
        summary = (f"Keeps the subscription: it renews at {_money(_renewal(subscription), plan.currency)} on "
                   f"{_day(end)}.")
        next_at = end
    was = "once the payment settles" if subscription.cancel_after_settle else f"on {_day(end)}"
    return _Change(
        _impact(subscription, "undo_cancel", summary, next_invoice_at=next_at,
                next_invoice_amount=_renewal(subscription)),
        f"The cancel is undone: {plan.name} no longer cancels {was}.",
        changes={"cancel_at_period_end": False, "cancel_after_settle": "", "cancelled_at": None, "cancel_reason": ""},
        verb="cancel_undone", timeline=f"Cancel undone: {plan.name} continues",
        data={"was": subscription.cancel_after_settle or PERIOD_END})


def _pause(subscription: Subscription, now: datetime, loaded: Subscription | None, *,
           resume_on: date | None) -> _Change:
    if subscription.status == S.PAUSED:
        until = f" until {_day(subscription.resume_on)}" if subscription.resume_on else ""
        return _noop(subscription, "pause", f"The subscription is already paused{until}; nothing changed.")
    _check(subscription, "pause", loaded)
    refusal = _cancel_pending_refusal(subscription)
    if refusal:
        _refuse(refusal, "cancel_pending")
    today = timezone.localdate(now)
    if resume_on is not None:
        if isinstance(resume_on, datetime) or not isinstance(resume_on, date):
            _refuse("The resume date is a date like 2030-01-31.", "invalid_resume_on")
        latest = today + timedelta(days=MAX_PAUSE_DAYS)
        if not today < resume_on <= latest:
            _refuse(f"The resume date must be after today and at most {MAX_PAUSE_DAYS} days away (by "
                    f"{_day(latest)}).", "invalid_resume_on")
    left = max((subscription.current_period_end - now) // timedelta(microseconds=1), 0)
    plan = subscription.plan
    next_at = None
    if resume_on is not None:
        resumes = timezone.make_aware(datetime.combine(resume_on, datetime.min.time()))
        next_at = resumes + timedelta(microseconds=left)
    until = f"until {_day(resume_on)}" if resume_on else "until it is resumed"
    summary = (f"Pauses now {until}: no invoices while paused; the {_days(left)} left of this period continue when "
               f"it resumes.")
    return _Change(
        _impact(subscription, "pause", summary, next_invoice_at=next_at, next_invoice_amount=_renewal(subscription),
                mrr_after=_mrr(subscription, status=S.PAUSED),
                lines=["Nothing is charged or refunded now.",
                       f"Resumes on {_day(resume_on)}." if resume_on else "No resume date: resume it by hand."]),
        f"{plan.name} is paused {until}.",
        changes={"status": S.PAUSED, "paused_at": now, "resume_on": resume_on}, verb="paused",
        timeline=f"Subscription paused {until}",
        data={"resume_on": resume_on.isoformat() if resume_on else None})


def _resume(subscription: Subscription, now: datetime, loaded: Subscription | None) -> _Change:
    if subscription.status == S.ACTIVE:
        return _noop(subscription, "resume", "The subscription is already active; nothing changed.")
    _check(subscription, "resume", loaded)
    plan, currency = subscription.plan, subscription.plan.currency
    if subscription.status == S.PAUSED:
        start, end = resumed_period(subscription.current_period_start, subscription.current_period_end,
                                    subscription.paused_at, now)
        left = max((end - now) // timedelta(microseconds=1), 0)
        renews = f"renews at {_money(_renewal(subscription), currency)} on {_day(max(end, now))}"
        summary = (f"Resumes now: the {_days(left)} left of the paid period continue, then it {renews}." if left
                   else f"Resumes now; the paid period was used up, so it {renews}.")
        return _Change(
            _impact(subscription, "resume", summary, next_invoice_at=max(end, now),
                    next_invoice_amount=_renewal(subscription), mrr_after=_mrr(subscription, status=S.ACTIVE),
                    lines=["Nothing is charged now: the time paused is added to the period."]),
            f"{plan.name} is active again; it {renews}.",
            changes={"status": S.ACTIVE, "paused_at": None, "resume_on": None, "current_period_start": start,
                     "current_period_end": end},
            verb="resumed", timeline=f"Subscription resumed; {renews}",
            data={"period_end": end.isoformat()})
    invoice = _outstanding(subscription)
    due = invoice_amount_outstanding(invoice) if invoice is not None else 0
    balance = min(credit_balance(subscription.customer_id), due)
    verdict = _resume_refusal(invoice, due - balance)
    if not verdict.allowed:
        raise ActionRefused(verdict)
    charge = due - balance
    method = default_method(subscription.customer_id) if charge else None
    on = f" on {method}" if method is not None else ""
    summary = (f"Charges {_money(charge, currency)}{on} now for invoice {invoice.number}; the subscription is active "
               f"again once it is paid." if charge else
               f"Account credit pays invoice {invoice.number} ({_money(due, currency)}); the subscription is active "
               f"again.")
    lines = [f"Outstanding on invoice {invoice.number}: {_money(due, currency)}"]
    if balance:
        lines.append(f"Account credit pays first: {_money(balance, currency)}")
    return _Change(
        _impact(subscription, "resume", summary, charge_now=charge, next_invoice_at=subscription.current_period_end,
                next_invoice_amount=_renewal(subscription), mrr_after=_mrr(subscription, status=S.ACTIVE),
                lines=lines),
        summary, collect=invoice)


def _extend_trial(subscription: Subscription, now: datetime, loaded: Subscription | None, *, days: int) -> _Change:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXTEND_DAYS:
        _refuse(f"Extend the trial by 1 to {MAX_EXTEND_DAYS} days.", "invalid_days")
    _check(subscription, "extend_trial", loaded)
    cap, left = settings.PORTAL["MAX_TRIAL_DAYS"], _trial_days_left(subscription)
    if days > left:
        _refuse(f"The trial already lasts the maximum of {cap} days; no more days can be added." if not left else
                f"A trial lasts at most {cap} days in total: at most {left} more day{'s' if left != 1 else ''} can "
                f"be added.", "trial_cap")
    old_end = subscription.trial_end or subscription.current_period_end
    new_end, plan = old_end + timedelta(days=days), subscription.plan
    first = _money(_renewal(subscription), plan.currency)
    summary = f"The trial ends on {_day(new_end)} instead of {_day(old_end)}; the first charge of {first} is then."
    return _Change(
        _impact(subscription, "extend_trial", summary, next_invoice_at=new_end,
                next_invoice_amount=_renewal(subscription),
                lines=[f"{days} more day{'s' if days != 1 else ''} of trial; nothing is charged now."]),
        f"Trial extended by {days} day{'s' if days != 1 else ''}, to {_day(new_end)}.",
        changes={"trial_end": new_end, "current_period_end": subscription.current_period_end + timedelta(days=days)},
        verb="trial_extended", timeline=f"Trial extended by {days} day{'s' if days != 1 else ''} to {_day(new_end)}",
        data={"days": days, "trial_end": new_end.isoformat()})


# ---- Carrying an action out ---------------------------------------------------------------------------------------

def _load(subscription: Subscription) -> Subscription:
    return (Subscription.objects.select_related("customer", "plan", "scheduled_plan")
            .get(pk=subscription.pk))


def _lock(subscription: Subscription) -> Subscription:
    """Customer, then subscription, FOR NO KEY UPDATE (the payments code locks invoices and payments after them)."""
    customer = Customer.objects.select_for_update(no_key=True).get(pk=subscription.customer_id)
    locked = (Subscription.objects.select_for_update(no_key=True, of=("self",))
              .select_related("plan", "scheduled_plan").get(pk=subscription.pk))
    locked.customer = customer
    return locked


def _impact_row(impact: Impact) -> dict:
    row = dataclasses.asdict(impact)
    row["next_invoice_at"] = impact.next_invoice_at.isoformat() if impact.next_invoice_at else None
    return row


def _impact_from_row(row: dict) -> Impact:
    return Impact(**{**row, "next_invoice_at": parse_datetime(row["next_invoice_at"]) if row["next_invoice_at"]
                     else None})


@dataclass(frozen=True)
class _Earlier:
    result: ActionResult
    uncharged: Invoice | None  # its proration invoice, when the request stopped before charging it


def _earlier(request_key: str, subscription: Subscription, action: str, params: dict) -> _Earlier | None:
    """What the same request did before (a double submit, a retried call), or None the first time."""
    request = SubscriptionRequest.objects.filter(request_key=request_key).select_related("invoice").first()
    if request is None:
        return None
    if (request.subscription_id, request.action, request.params) != (subscription.pk, action, params):
        _refuse("This request was already sent with different values; reload the page and try again.",
                "idempotency_conflict")
    invoice, payment = request.invoice, None
    if invoice is not None:
        payment = (Payment.objects.filter(invoice=invoice).select_related("payment_method", "invoice")
                   .order_by("-created_at", "-id").first())
    uncharged = invoice if invoice is not None and payment is None and invoice.status == Invoice.Status.OPEN \
        else None
    return _Earlier(ActionResult(subscription=subscription, impact=_impact_from_row(request.impact),
                                 changed=request.changed, message=request.message, payment=payment), uncharged)


def _remember(request_key: str | None, subscription: Subscription, action: str, params: dict, actor, *,
              changed: bool, message: str, impact: Impact, invoice: Invoice | None = None) -> None:
    if request_key:
        SubscriptionRequest.objects.create(
            subscription=subscription, action=action, params=params, request_key=request_key, changed=changed,
            message=message[:500], impact=_impact_row(impact), invoice=invoice,
            created_by=actor if actor is not None and actor.is_authenticated else None, created_at=timezone.now())


def _attempt_words(payment: Payment) -> str:
    amount = _money(payment.amount, payment.currency)
    method = f" on {payment.payment_method}" if payment.payment_method_id else ""
    if payment.status == Payment.Status.SUCCEEDED:
        return f"Charged {amount}{method}"
    if payment.status == Payment.Status.FAILED:
        why = (payment.failure_message or payment.failure_code or "declined").rstrip(".")
        return f"The charge of {amount}{method} was declined: {why}"
    return f"The charge of {amount}{method} is processing"


def _charge(invoice: Invoice, *, actor, why: str, request_key: str | None = None) -> tuple[Payment | None, str]:
    """Charge an open invoice (credit first) with none of this module's locks held: the gateway answers when the
    charge's transaction commits (payments.gateway_calls). Returns the attempt, reloaded with its outcome, and what
    became of it in words. A refusal of the charge itself (no method, an attempt in progress) raises DomainError."""
    attempt = invoice_charge(invoice=invoice, actor=actor, why=why, request_key=request_key)
    if attempt.payment is None:
        return None, f"Account credit paid invoice {invoice.number}"
    payment = Payment.objects.select_related("payment_method", "invoice").get(pk=attempt.payment.pk)
    return payment, _attempt_words(payment)


def _act(subscription: Subscription, *, action: str, params: dict, actor, preview: bool, request_key: str | None,
         work) -> ActionResult:
    """Preview or carry out `work(subscription, now, loaded) -> _Change`: the same function either way."""
    if preview:
        current = _load(subscription)
        change = work(current, timezone.now(), None)
        return ActionResult(subscription=current, impact=change.impact, changed=not change.noop,
                            message=change.message if change.noop else change.impact.summary)
    with transaction.atomic():
        current = _lock(subscription)
        earlier = _earlier(request_key, current, action, params) if request_key else None
        if earlier is not None and earlier.uncharged is None:
            return earlier.result
        if earlier is not None:
            result, invoice = earlier.result, earlier.uncharged
        else:
            change = work(current, timezone.now(), subscription)
            if change.collect is not None:
                result = invoice = None  # nothing changes before the outstanding invoice is paid
            else:
                invoice = None if change.noop else _apply(current, change, actor=actor)
                result = ActionResult(subscription=current, impact=change.impact, changed=not change.noop,
                                      message=change.message)
                _remember(request_key, current, action, params, actor, changed=result.changed,
                          message=result.message, impact=result.impact, invoice=invoice)
    if result is None:
        return _resume_suspended(current, change, actor=actor, request_key=request_key, action=action, params=params)
    if invoice is None:
        return result
    try:
        payment, outcome = _charge(invoice, actor=actor, why=action.replace("_", " "))
    except DomainError as error:  # not charged (no method): the same request tries again, so keep its message
        return dataclasses.replace(result, subscription=_load(current), message=f"{result.message} Invoice "
                                   f"{invoice.number} stays open: {error.message}")
    message = f"{result.message} {outcome}."
    if payment is not None and payment.status == Payment.Status.FAILED:
        message = f"{message} Invoice {invoice.number} stays open: retry it, or send a card-update link."
    if request_key:
        SubscriptionRequest.objects.filter(request_key=request_key).update(message=message[:500])
    return dataclasses.replace(result, subscription=_load(current), message=message, payment=payment)


def _apply(subscription: Subscription, change: _Change, *, actor) -> Invoice | None:
    """Write a worked-out change on the locked rows: the proration invoice or credit, then the subscription."""
    invoice = None
    data = dict(change.data)
    if change.invoice_lines:
        invoice = invoice_issue(customer=subscription.customer, subscription=subscription, lines=change.invoice_lines,
                                currency=change.impact.currency, period_start=change.invoice_from,
                                period_end=subscription.current_period_end, actor=actor, why="plan change",
                                billing_reason=Invoice.BillingReason.UPDATE)
        data["invoice"] = invoice.public_id
    if change.credit:
        entry = credit_add_for_proration(customer=subscription.customer, amount=change.credit,
                                         reason=change.credit_reason, actor=actor)
        data["credit_entry"] = entry.pk
    subscription_record(subscription, actor=actor, action=change.verb, summary=change.timeline,
                        changes=change.changes, data=data)
    return invoice


def _resume_suspended(subscription: Subscription, change: _Change, *, actor, request_key: str | None, action: str,
                      params: dict) -> ActionResult:
    """Charge the outstanding invoice first; its outcome (payments/outcomes.py) makes the subscription active again.
    A declined charge is refused and changes nothing about the subscription."""
    earlier = (Payment.objects.filter(request_key=request_key).select_related("payment_method", "invoice").first()
               if request_key else None)
    if earlier is not None:
        payment, outcome = earlier, _attempt_words(earlier)
    else:
        payment, outcome = _charge(change.collect, actor=actor, why="resume", request_key=request_key)
    if payment is not None and payment.status == Payment.Status.FAILED:
        _refuse(f"{outcome}; the subscription stays suspended.", "charge_declined")
    current = _load(subscription)
    changed = current.status == S.ACTIVE
    message = (f"{outcome}; the subscription is active again." if changed
               else f"{outcome}; the subscription becomes active when it succeeds.")
    _remember(request_key, current, action, params, actor, changed=changed, message=message, impact=change.impact,
              invoice=change.collect)
    return ActionResult(subscription=current, impact=change.impact, changed=changed, message=message,
                        payment=payment)


# ---- The services -------------------------------------------------------------------------------------------------

def subscription_change_plan(*, subscription: Subscription, plan: Plan, when: str | None = None, actor,
                             preview: bool = False, request_key: str | None = None) -> ActionResult:
    """Move the subscription to `plan`: `when="now"` (prorated: the difference charged now, or credited) or
    `"renewal"` (scheduled, applied by the billing job). None: an upgrade now, a downgrade (lower rank, or the same
    rank at a lower price) at renewal; in a trial always now, with no charge. Same currency and interval only."""
    return _act(subscription, action="change_plan", params={"plan": plan.code, "when": when}, actor=actor,
                preview=preview, request_key=request_key,
                work=lambda current, now, loaded: _plan_change(current, now, loaded, plan=plan, when=when))


def subscription_scheduled_change_cancel(*, subscription: Subscription, actor, preview: bool = False,
                                         request_key: str | None = None) -> ActionResult:
    """Drop the plan change scheduled for the renewal: the subscription renews on its current plan."""
    return _act(subscription, action=SCHEDULED_CHANGE_CANCEL, params={}, actor=actor, preview=preview,
                request_key=request_key, work=_scheduled_change_cancel)


def subscription_cancel(*, subscription: Subscription, when: str, reason: str, actor, preview: bool = False,
                        after_settle: bool = False, request_key: str | None = None) -> ActionResult:
    """Cancel now (ends at once, no refund) or at period end (stays live until then, undoable). While a payment of
    the customer is pending (or an invoice is in dunning) cancel is refused with `payment_pending`; with
    `after_settle=True` the cancel is recorded to happen once it settles (the billing job carries it out)."""
    return _act(subscription, action="cancel",
                params={"when": when, "reason": reason, "after_settle": bool(after_settle)}, actor=actor,
                preview=preview, request_key=request_key,
                work=lambda current, now, loaded: _cancel(current, now, loaded, when=when, reason=reason,
                                                          after_settle=after_settle))


def subscription_cancel_undo(*, subscription: Subscription, actor, preview: bool = False,
                             request_key: str | None = None) -> ActionResult:
    """Undo a cancel at period end, or a cancel waiting for a payment to settle."""
    return _act(subscription, action="undo_cancel", params={}, actor=actor, preview=preview,
                request_key=request_key, work=_cancel_undo)


def subscription_pause(*, subscription: Subscription, resume_on: date | None = None, actor, preview: bool = False,
                       request_key: str | None = None) -> ActionResult:
    """Pause an active subscription now (no invoices while paused), optionally until `resume_on` (after today,
    within 365 days). Nothing is charged or credited: the rest of the paid period continues after the resume."""
    return _act(subscription, action="pause",
                params={"resume_on": resume_on.isoformat() if isinstance(resume_on, date) else resume_on},
                actor=actor, preview=preview, request_key=request_key,
                work=lambda current, now, loaded: _pause(current, now, loaded, resume_on=resume_on))


def subscription_resume(*, subscription: Subscription, actor, preview: bool = False,
                        request_key: str | None = None) -> ActionResult:
    """Resume a paused subscription (its period moves on by the length of the pause), or a suspended one: its
    outstanding invoice is charged first, and a declined charge is refused (the subscription stays suspended)."""
    return _act(subscription, action="resume", params={}, actor=actor, preview=preview, request_key=request_key,
                work=_resume)


def subscription_extend_trial(*, subscription: Subscription, days: int, actor, preview: bool = False,
                              request_key: str | None = None) -> ActionResult:
    """Add `days` (1–90) to a trial, within settings.PORTAL["MAX_TRIAL_DAYS"] of trial in total."""
    return _act(subscription, action="extend_trial", params={"days": days}, actor=actor, preview=preview,
                request_key=request_key,
                work=lambda current, now, loaded: _extend_trial(current, now, loaded, days=days))


# ---- The menu -----------------------------------------------------------------------------------------------------

def action_verdicts(subscription: Subscription, *, actor) -> dict[str, Verdict]:
    """Every action (transitions.ACTIONS, and `scheduled_change_cancel`) → allowed, or the sentence that says why
    not: the table, then the same checks the services make. One query (the pending payment, or a suspended
    subscription's invoice); the subscription's plan is expected loaded."""
    names = (*ACTIONS, SCHEDULED_CHANGE_CANCEL)
    if actor is not None and not has_capability(actor, Cap.MANAGE_SUBSCRIPTIONS):
        refusal = Verdict(False, "Your role does not allow changing subscriptions.", "role")
        return dict.fromkeys(names, refusal)
    verdicts = {action: transitions.allowed(subscription.status, action) for action in ACTIONS}
    if verdicts["cancel"].allowed:
        blocker = _payment_blocker(subscription.customer_id)
        if blocker:
            verdicts["cancel"] = Verdict(False, blocker, "payment_pending", "cancel_when_settled")
    if verdicts["undo_cancel"].allowed and not (subscription.cancel_at_period_end or subscription.cancel_after_settle):
        verdicts["undo_cancel"] = Verdict(False, "The subscription is not set to cancel.", "nothing_to_undo")
    if verdicts["pause"].allowed and _cancel_pending_refusal(subscription):
        verdicts["pause"] = Verdict(False, _cancel_pending_refusal(subscription), "cancel_pending")
    if verdicts["extend_trial"].allowed and _trial_days_left(subscription) == 0:
        verdicts["extend_trial"] = Verdict(
            False, f"The trial already lasts the maximum of {settings.PORTAL['MAX_TRIAL_DAYS']} days.", "trial_cap")
    if verdicts["resume"].allowed and subscription.status == S.SUSPENDED:
        verdicts["resume"] = _suspended_resume_verdict(subscription)
    if subscription.scheduled_plan_id is None:
        verdicts[SCHEDULED_CHANGE_CANCEL] = Verdict(False, "No plan change is scheduled.", "nothing_scheduled")
    elif subscription.status in Subscription.ENDED_STATUSES:
        verdicts[SCHEDULED_CHANGE_CANCEL] = verdicts["change_plan"]
    else:
        verdicts[SCHEDULED_CHANGE_CANCEL] = ALLOWED
    return verdicts


def _suspended_resume_verdict(subscription: Subscription) -> Verdict:
    """What `_resume` checks for a suspended subscription, in one query. The menu does not add up the credit
    ledger, so it asks for a payment method whenever the invoice is unpaid; the action itself lets credit pay."""
    invoice = _outstanding(subscription)
    return _resume_refusal(invoice, invoice.total - invoice.credit_applied if invoice is not None else 0)
