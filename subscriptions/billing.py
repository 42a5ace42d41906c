"""The scheduled side of subscriptions: the billing jobs that end trials, renew, cancel and resume on their dates,
retry failed payments and expire what stays unpaid. `run_all` runs them in this order (JOBS), every few minutes
(subscriptions/tasks.py, the `subscriptions.billing_tick` beat entry):

    trial_ends          trial_end passed: issue the first invoice, charge it → trial_converted / trial_failed
    renewals            period ended: scheduled plan change, invoice (credit, discount), charge → renewed / renewal_failed
    period_end_cancels  period ended and set to cancel → period_end_cancel
    resumes             paused with a resume date that came → auto_resume, then invoiced and charged like a renewal
    dunning             a retry of an unpaid invoice is due, or the card changed → charge again; the schedule
                        ended unpaid → dunning_exhausted (suspended); paid → payment_recovered (payments/outcomes.py)
    expiry              suspended for PORTAL["EXPIRE_AFTER_SUSPENDED_DAYS"], or a store-billed trial or term that
                        the store did not renew → expire
    cancels_after_settle  a cancel waiting for a payment to settle → carried out

Every change of subscription state goes through subscriptions/state.py (`subscription_record`) with the event of
subscriptions/transitions.py; the dunning schedule is payments/dunning.py; money moves through payments/charges.py.

How the jobs stay correct when they run twice, late, or in two workers at once:
- Each job walks only the rows that can be due, through a partial index, in batches of at most BATCH_SIZE,
  keyset-paged on (due time, id). Each row is then worked on in short transactions of its own that lock the
  customer, the subscription and the invoice, in that order, skipping rows another worker holds (it is doing the
  same work), and check again under the lock that the work is still due.
- The work is decided from the rows' state, never from a memory of the last run: a period's invoice exists or not
  (at most one per subscription and period start, a database constraint), its last charge attempt is absent,
  processing, failed or paid. A run that died half-way, or a gateway answer that came late, is picked up by the next
  run from where the rows are, and a charge is only created under those locks when the state asks for one: one
  charge per invoice and retry, however many runs race.
- The gateway is called after the transaction that recorded the charge commits, with no lock held
  (payments/gateway_calls.py); the next short transaction reads what it answered and applies the event.
- A run that comes late applies each due event once, in order (the period's renewal, then its retries on the days
  still ahead: days missed while nothing ran are skipped, not made up in a burst).

Store-billed subscriptions (App Store, Google Play storefronts, or an app-store method) are collected by the store:
the jobs never invoice or charge them; when their term has ended PORTAL["STORE_RENEWAL_GRACE_DAYS"] ago without the
store extending it, they expire.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial

import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.models import ActivityEvent, Customer, Storefront
from payments.charges import default_method, invoice_charge
from payments.dunning import retry_after, schedule_ends_at
from payments.invoices import invoice_issue, invoice_line
from payments.models import Invoice, Payment, PaymentMethod
from payments.outcomes import invoice_settle_if_covered
from payments.policy import APP_STORE_KINDS
from portal.audit import Timeline, audit_record
from portal.context import action_source
from portal.errors import DomainError
from subscriptions.models import Plan, Subscription
from subscriptions.proration import renewal_amount, resumed_period
from subscriptions.state import subscription_record
from subscriptions.transitions import event_target
from support.services import email_send

log = structlog.get_logger(__name__)

BATCH_SIZE = 1000
STORE_KINDS = (Storefront.Kind.APP_STORE, Storefront.Kind.GOOGLE_PLAY)
S = Subscription.Status
UNSETTLED = (Payment.Status.PENDING, Payment.Status.UNKNOWN)

# Emails (support migration 0007): transactional, sent whatever the customer's marketing consent.
EMAIL_RETRY_SCHEDULED = "payment-retry-scheduled"
EMAIL_UPDATE_CARD = "payment-update-card"
EMAIL_SUSPENDED = "subscription-suspended"
EMAIL_EXPIRED = "subscription-expired"

# What one pass over one row did (the keys of the counts a job returns).
CHARGED = "charged"
BUSY = "busy"  # another worker holds the row: it is doing this work
NOT_DUE = "not_due"  # no longer due once locked (another run did it, or an agent changed it)
WAITING = "waiting"  # a charge is processing at the gateway, or a retry is planned later


# ---- Dates -----------------------------------------------------------------------------------------------------

def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later; the month's last day when it is shorter (31 Jan + 1 → 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def period_after(start: datetime, plan: Plan) -> tuple[datetime, datetime]:
    """The billing period of `plan` that starts at `start`."""
    return start, add_months(start, 12 if plan.interval == Plan.Interval.YEAR else 1)


def _day(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b}"


# ---- Walking due rows ------------------------------------------------------------------------------------------

def due_batch(queryset: QuerySet, key: str, upto, after: tuple | None = None) -> QuerySet:
    """The next batch of a walk: (key, id) of at most BATCH_SIZE rows whose `key` is at most `upto`, after the
    position `after`, in (key, id) order."""
    page = queryset.filter(**{f"{key}__lte": upto})
    if after is not None:
        # The redundant bound lets Postgres start the range scan at the position instead of filtering from the top.
        page = page.filter(**{f"{key}__gte": after[0]}).filter(Q(**{f"{key}__gt": after[0]}) | Q(id__gt=after[1]))
    return page.order_by(key, "id").values_list(key, "id")[:BATCH_SIZE]


def _due_ids(queryset: QuerySet, key: str, upto) -> Iterator[list[int]]:
    """Batches of at most BATCH_SIZE ids of `queryset` whose `key` is at most `upto`, in (key, id) order: each batch
    is one range scan of the job's partial index, starting after the last row of the batch before (rows that stay
    due, such as a charge still processing, are passed, never walked again in the same run)."""
    last = None
    while True:
        rows = list(due_batch(queryset, key, upto, last))
        if rows:
            yield [row_id for _, row_id in rows]
        if len(rows) < BATCH_SIZE:
            return
        last = rows[-1]


# ---- Locks -----------------------------------------------------------------------------------------------------

def _lock(subscription_id: int, *, skip_locked: bool = True) -> Subscription | None:
    """Lock the subscription's customer, then the subscription (the order every subscription write takes). With
    `skip_locked`, None when another transaction holds either: a billing worker doing this work, or an agent's
    action (the next run comes back to it)."""
    customer_id = Subscription.objects.filter(pk=subscription_id).values_list("customer_id", flat=True).first()
    if customer_id is None:
        return None
    customer = (Customer.objects.select_for_update(no_key=True, skip_locked=skip_locked, of=("self",))
                .select_related("storefront").filter(pk=customer_id).first())
    if customer is None:
        return None
    subscription = (Subscription.objects.select_for_update(no_key=True, skip_locked=skip_locked, of=("self",))
                    .select_related("plan", "scheduled_plan").filter(pk=subscription_id).first())
    if subscription is not None:
        subscription.customer = customer
    return subscription


def _lock_invoice(subscription: Subscription, invoice_id: int) -> Invoice:
    invoice = Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id)
    invoice.customer = subscription.customer
    return invoice


Step = Callable[[Subscription, datetime], "tuple[str, Step | None]"]


def _process(subscription_id: int, step: Step, now: datetime) -> list[str]:
    """Run `step` on one subscription, each pass in a short transaction of its own. A pass that charged names the
    step that reads the answer: the charge is sent to the gateway when that pass commits, so the next pass (a new
    transaction) finds it answered, unless the gateway is still processing it (a later run then picks it up). That
    pass waits for the locks rather than skipping: the worker that charged is the one that tells the customer."""
    results = []
    while step is not None:
        try:
            with transaction.atomic():
                subscription = _lock(subscription_id, skip_locked=not results)
                if subscription is None:
                    return [*results, BUSY]
                result, step = step(subscription, now)
        except IntegrityError:  # another worker got there first despite the locks: its work stands
            log.warning("billing.conflict", subscription=subscription_id)
            return [*results, BUSY]
        results.append(result)
    return results


def _run(job: str, walks: list[tuple[QuerySet, str, object]], step: Step | Callable, now: datetime,
         *, by_invoice: bool = False) -> dict[str, int]:
    """Walk each (queryset, key, upto) and process every due row; one row's failure is logged and counted, and
    never stops the job."""
    if connection.in_atomic_block:
        raise RuntimeError("Billing jobs charge cards: call them with no transaction open.")
    counts: Counter = Counter()
    with action_source("scheduled"):
        for queryset, key, upto in walks:
            for batch in _due_ids(queryset, key, upto):
                subjects = (dict(Invoice.objects.filter(pk__in=batch).values_list("pk", "subscription_id"))
                            if by_invoice else None)
                for row_id in batch:
                    counts["seen"] += 1
                    try:
                        if by_invoice:
                            if subjects.get(row_id) is None:  # not a subscription's invoice: not billing's
                                counts[NOT_DUE] += 1
                                continue
                            results = _process(subjects[row_id], partial(step, invoice_id=row_id), now)
                        else:
                            results = _process(row_id, step, now)
                    except Exception:
                        log.exception("billing.failed", job=job, row=row_id)
                        results = ["errors"]
                    counts.update(results)
    if counts:
        log.info("billing.job", job=job, **counts)
    return dict(counts)


# ---- Emails ----------------------------------------------------------------------------------------------------

def _email(customer: Customer, code: str, **extra) -> None:
    """Queue a transactional email in the caller's transaction. An email that cannot be sent (an erased customer, a
    template an admin deactivated) never stops the billing work: it is logged and skipped."""
    try:
        email_send(customer=customer, template_code=code, actor=None, extra_context=extra or None)
    except DomainError as exc:
        log.warning("billing.email_skipped", template=code, code=exc.code)


def _email_failure(customer: Customer, invoice: Invoice) -> None:
    """The failed-payment email: when the next retry is, or that the card must change first."""
    if invoice.next_retry_at is not None:
        _email(customer, EMAIL_RETRY_SCHEDULED, next_retry_date=invoice.next_retry_at)
    else:
        _email(customer, EMAIL_UPDATE_CARD)


# ---- Who collects ----------------------------------------------------------------------------------------------

def store_billed(customer: Customer, method: PaymentMethod | None) -> bool:
    """The store (App Store, Google Play) collects this customer's payments: the portal never charges them."""
    return customer.storefront.kind in STORE_KINDS or (method is not None and method.kind in APP_STORE_KINDS)


def _no_retry_reason(latest: Payment | None, method: PaymentMethod | None) -> str | None:
    """Why charging again now would be pointless (None: it may be charged): the rule of payments.charges.retry_verdict
    for a scheduled retry."""
    if method is None:
        return "no_method"
    if method.kind in APP_STORE_KINDS:
        return "channel"
    if latest is not None and latest.decline_type == Payment.DeclineType.HARD and latest.payment_method_id == method.pk:
        return "hard_decline"
    return None


def _latest_attempt(invoice: Invoice) -> Payment | None:
    return Payment.objects.filter(invoice=invoice).order_by("-created_at", "-id").first()


# ---- A billing period (trial end, renewal, resume) -------------------------------------------------------------

def _period_invoice(subscription: Subscription, start: datetime) -> Invoice | None:
    invoice = (Invoice.objects.select_for_update(no_key=True)
               .filter(subscription=subscription, billing_reason=Invoice.BillingReason.CYCLE, period_start=start)
               .first())
    if invoice is not None:
        invoice.customer = subscription.customer
    return invoice


def _apply_scheduled_plan(subscription: Subscription) -> None:
    new = subscription.scheduled_plan
    if new is None:
        return
    old = subscription.plan
    subscription_record(subscription, actor=None, action="plan_changed_at_renewal",
                        summary=f"Plan changed from {old.name} to {new.name} at renewal",
                        changes={"plan": new, "scheduled_plan": None}, data={"from": old.code, "to": new.code})


def _issue(subscription: Subscription, start: datetime, now: datetime) -> Invoice:
    """The period's invoice: the plan's price, less the retention discount while it has cycles left (one used)."""
    plan = subscription.plan
    period = period_after(start, plan)
    percent, cycles = subscription.discount_percent, subscription.discount_cycles_left
    amount = renewal_amount(plan.price, percent, cycles)
    lines = [invoice_line(plan.name, plan.price)]
    if amount != plan.price:
        lines.append(invoice_line(f"Retention discount ({percent}%)", amount - plan.price))
    invoice = invoice_issue(customer=subscription.customer, subscription=subscription, lines=lines,
                            currency=plan.currency, period_start=period[0], period_end=period[1], actor=None,
                            why=f"{period[0]:%-d %b %Y} to {period[1]:%-d %b %Y}",
                            billing_reason=Invoice.BillingReason.CYCLE, issued_at=now)
    if percent and cycles:
        left = cycles - 1
        subscription_record(
            subscription, actor=None, action="discount_applied",
            summary=(f"Retention discount of {percent}% applied to invoice {invoice.number}; "
                     + (f"{left} more renewal{'s' if left != 1 else ''} discounted" if left else "the last one")),
            changes={"discount_cycles_left": left, "discount_percent": percent if left else 0},
            data={"invoice": invoice.public_id, "percent": percent})
    return invoice


def _first_failure(subscription: Subscription, invoice: Invoice, latest: Payment | None, now: datetime,
                   *, converting: bool) -> str:
    """The period's charge failed: grace (access kept) for the invoice's period, and the dunning schedule starts."""
    event = "trial_failed" if converting else "renewal_failed"
    hard = _no_retry_reason(latest, default_method(subscription.customer_id)) is not None
    invoice.payment_failed_at = now
    invoice.next_retry_at = None if hard else retry_after(now, now)
    invoice.save(update_fields=["payment_failed_at", "next_retry_at"])
    what = "The trial ended but its first payment failed" if converting else "The renewal payment failed"
    then = (f"next retry {_day(invoice.next_retry_at)}" if invoice.next_retry_at
            else "no retry until the card changes")
    subscription_record(subscription, actor=None, action=event, summary=f"{what}: in grace, {then}",
                        changes={"status": event_target(subscription.status, event),
                                 "current_period_start": invoice.period_start,
                                 "current_period_end": invoice.period_end},
                        data={"invoice": invoice.public_id,
                              "next_retry_at": invoice.next_retry_at.isoformat() if invoice.next_retry_at else None})
    _email_failure(subscription.customer, invoice)
    return event


def _paid(subscription: Subscription, invoice: Invoice, *, converting: bool) -> str:
    """The period's invoice is settled (charged, or paid by credit): the period starts."""
    changes = {"current_period_start": invoice.period_start, "current_period_end": invoice.period_end}
    until = f"{invoice.period_end:%-d %b %Y}"
    if converting:
        changes["status"] = event_target(subscription.status, "trial_converted")
        summary, action = f"Trial converted: {subscription.plan.name} paid until {until}", "trial_converted"
    else:
        summary, action = f"Renewed: {subscription.plan.name} paid until {until}", "renewed"
    subscription_record(subscription, actor=None, action=action, summary=summary, changes=changes,
                        data={"invoice": invoice.public_id})
    return action


def _charge(subscription: Subscription, invoice: Invoice, *, why: str, then: Step) -> tuple[str, Step | None]:
    """Charge an open invoice (credit first). Called inside the locking transaction: the gateway is asked when it
    commits, and `then` reads the answer in the next one."""
    try:
        attempt = invoice_charge(invoice=invoice, actor=None, why=why)
    except DomainError as exc:  # processing meanwhile, closed meanwhile: the next run sees the state
        log.info("billing.not_charged", invoice=invoice.public_id, code=exc.code)
        return WAITING, None
    return (CHARGED if attempt.payment is not None else "paid_by_credit"), then


def _period_step(subscription: Subscription, now: datetime, *, start: datetime, converting: bool, why: str,
                 again: Step) -> tuple[str, Step | None]:
    """One pass of a period's billing, decided from its invoice: issue it, charge it, or apply what the charge
    became. `again` is the step to run after a charge (the same decision, in a new transaction)."""
    invoice = _period_invoice(subscription, start)
    if invoice is None:
        if store_billed(subscription.customer, default_method(subscription.customer_id)):
            return "store_billed", None
        _apply_scheduled_plan(subscription)
        invoice = _issue(subscription, start, now)
        if invoice.total == 0:  # a 100% discount: nothing to charge
            invoice_settle_if_covered(invoice, actor=None)
    if invoice.status != Invoice.Status.OPEN:
        # Paid (charge or credit), or closed by an agent (void, uncollectible): nothing more to collect for it.
        return _paid(subscription, invoice, converting=converting), None
    latest = _latest_attempt(invoice)
    if latest is not None and latest.status in UNSETTLED:
        return WAITING, None
    if latest is None or latest.status != Payment.Status.FAILED:
        if default_method(subscription.customer_id) is None:
            return _first_failure(subscription, invoice, None, now, converting=converting), None
        return _charge(subscription, invoice, why=why, then=again)
    return _first_failure(subscription, invoice, latest, now, converting=converting), None


def _trial_step(subscription: Subscription, now: datetime) -> tuple[str, Step | None]:
    ends = subscription.trial_end or subscription.current_period_end
    if subscription.status != S.TRIAL or subscription.cancel_at_period_end or ends > now:
        return NOT_DUE, None
    return _period_step(subscription, now, start=ends, converting=True, why="trial conversion", again=_trial_step)


def _renewal_step(subscription: Subscription, now: datetime) -> tuple[str, Step | None]:
    if (subscription.status != S.ACTIVE or subscription.cancel_at_period_end
            or subscription.current_period_end > now):
        return NOT_DUE, None
    return _period_step(subscription, now, start=subscription.current_period_end, converting=False,
                        why="renewal", again=_renewal_step)


def _resume_step(subscription: Subscription, now: datetime) -> tuple[str, Step | None]:
    """The resume date came: active again, as an agent's resume makes it (subscriptions/services.py): the paid period
    moves on by the length of the pause. When nothing of it was left, the next period starts now and is invoiced and
    charged like a renewal (a failed charge leads to grace, as a renewal's would)."""
    today = timezone.localdate(now)
    if subscription.status != S.PAUSED or subscription.resume_on is None or subscription.resume_on > today:
        return NOT_DUE, None
    start, end = resumed_period(subscription.current_period_start, subscription.current_period_end,
                                subscription.paused_at, now)
    if end <= now:  # the paid period was used up before the pause: a new one starts now
        start = end = now
    subscription_record(subscription, actor=None, action="auto_resume",
                        summary=f"Resumed on its resume date ({subscription.resume_on:%-d %b %Y}); paid until "
                                f"{end:%-d %b %Y}",
                        changes={"status": event_target(subscription.status, "auto_resume"), "resume_on": None,
                                 "paused_at": None, "current_period_start": start, "current_period_end": end})
    result, step = _renewal_step(subscription, now)
    return ("auto_resume" if result == NOT_DUE else result), step


def _period_end_cancel_step(subscription: Subscription, now: datetime) -> tuple[str, Step | None]:
    target = event_target(subscription.status, "period_end_cancel")
    if not subscription.cancel_at_period_end or target is None or subscription.current_period_end > now:
        return NOT_DUE, None
    ended = subscription.current_period_end
    stopped = Invoice.objects.filter(subscription=subscription, status=Invoice.Status.OPEN,
                                     next_retry_at__isnull=False).update(next_retry_at=None)
    subscription_record(subscription, actor=None, action="period_end_cancel",
                        summary=f"Cancelled at the end of its period ({ended:%-d %b %Y})",
                        changes={"status": target, "ended_at": ended,
                                 "cancelled_at": subscription.cancelled_at or ended},
                        data={"reason": subscription.cancel_reason, "retries_stopped": stopped})
    return "period_end_cancel", None


# ---- Dunning ---------------------------------------------------------------------------------------------------

def _plan_retry(subscription: Subscription, invoice: Invoice, when: datetime | None, *, why: str) -> None:
    """Write the invoice's next retry and say so on the timeline (the failed attempt's own row says it failed)."""
    invoice.next_retry_at = when
    invoice.save(update_fields=["next_retry_at"])
    summary = (f"Payment retry planned for {_day(when)}" if when is not None
               else "No payment retry until the card changes")
    audit_record(actor=None, action="payments.invoice.retry_planned", customer=subscription.customer, obj=invoice,
                 data={"invoice": invoice.public_id, "next_retry_at": when.isoformat() if when else None, "why": why},
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT, f"{summary} (invoice {invoice.number})",
                                   {"invoice": invoice.public_id}))


def _exhaust(subscription: Subscription, invoice: Invoice, now: datetime) -> str:
    """The schedule ended with the invoice unpaid: suspended (no access) until it is paid, then expired."""
    _email(subscription.customer, EMAIL_SUSPENDED)
    invoice.next_retry_at = None
    invoice.save(update_fields=["next_retry_at"])
    subscription_record(subscription, actor=None, action="dunning_exhausted",
                        summary=f"Suspended: the last payment retry for invoice {invoice.number} failed",
                        changes={"status": event_target(subscription.status, "dunning_exhausted"),
                                 "suspended_at": now},
                        data={"invoice": invoice.public_id})
    return "dunning_exhausted"


def _dunning_step(subscription: Subscription, now: datetime, *, invoice_id: int) -> tuple[str, Step | None]:
    """One unpaid invoice of a subscription in grace (retry it when its day came or the card changed, plan the next
    day of the schedule, suspend once the schedule ended unpaid) or suspended (charge a new card once)."""
    invoice = _lock_invoice(subscription, invoice_id)
    if invoice.status != Invoice.Status.OPEN or invoice.subscription_id != subscription.pk:
        return NOT_DUE, None
    if subscription.status not in (S.GRACE, S.SUSPENDED):
        # Cancelled, expired or active again meanwhile: only grace and suspended subscriptions are dunned.
        if invoice.next_retry_at is not None:
            invoice.next_retry_at = None
            invoice.save(update_fields=["next_retry_at"])
            return "retries_stopped", None
        return NOT_DUE, None
    failed_at = invoice.payment_failed_at or subscription.current_period_start
    latest = _latest_attempt(invoice)
    if latest is not None and latest.status in UNSETTLED:
        return WAITING, None
    method = default_method(subscription.customer_id)
    due = invoice.next_retry_at is not None and invoice.next_retry_at <= now
    # A method the last attempt did not use (or the first failure had none): the card changed.
    new_method = method is not None and (latest is None or latest.payment_method_id != method.pk)
    if subscription.status == S.SUSPENDED:
        # No schedule any more; a new card is charged once, and paying brings the subscription back.
        if new_method and _no_retry_reason(latest, method) is None:
            return _charge(subscription, invoice, why="new card", then=partial(_dunning_answer, invoice_id=invoice.pk))
        return WAITING, None
    if due or new_method:
        blocked = _no_retry_reason(latest, method)
        if blocked is None:
            invoice.next_retry_at = retry_after(failed_at, now)  # taken before the charge: this retry runs once
            invoice.save(update_fields=["next_retry_at"])
            return _charge(subscription, invoice, why="new card" if new_method and not due else "dunning retry",
                           then=partial(_dunning_answer, invoice_id=invoice.pk))
        if invoice.next_retry_at is not None:
            _plan_retry(subscription, invoice, None, why=blocked)
    elif (invoice.next_retry_at is None and latest is not None and latest.decline_type == Payment.DeclineType.SOFT
          and retry_after(failed_at, now) is not None):
        # A soft decline with no retry planned: the card page's charge of a new card failed, or a hard decline's
        # new card failed softly. The schedule goes on from its next day.
        _plan_retry(subscription, invoice, retry_after(failed_at, now), why="soft_decline")
        return "rescheduled", None
    if invoice.next_retry_at is None and now >= schedule_ends_at(failed_at):
        return _exhaust(subscription, invoice, now), None
    return WAITING, None


def _dunning_answer(subscription: Subscription, now: datetime, *, invoice_id: int) -> tuple[str, None]:
    """After a retry: paid (the payment services brought the subscription back), or failed: the customer hears
    when the next retry is, or that the card must change; after the last one, suspended."""
    invoice = _lock_invoice(subscription, invoice_id)
    if invoice.status != Invoice.Status.OPEN:
        return "payment_recovered", None
    latest = _latest_attempt(invoice)
    if latest is None or latest.status in UNSETTLED:
        return WAITING, None
    if latest.status != Payment.Status.FAILED or subscription.status != S.GRACE:
        return ("new_card_failed" if subscription.status == S.SUSPENDED else NOT_DUE), None
    if _no_retry_reason(latest, default_method(subscription.customer_id)) is not None:
        invoice.next_retry_at = None
    failed_at = invoice.payment_failed_at or subscription.current_period_start
    if invoice.next_retry_at is None and now >= schedule_ends_at(failed_at):
        return _exhaust(subscription, invoice, now), None
    _plan_retry(subscription, invoice, invoice.next_retry_at, why="retry_failed")
    _email_failure(subscription.customer, invoice)
    return "retry_failed", None


def _waiting_invoices(now: datetime) -> QuerySet:
    """Unpaid invoices with no retry planned that need a look: the customer's default method is not the one last
    tried (a new card: in grace or suspended), or, in grace, the schedule's end has passed or the last decline was
    soft."""
    latest = Payment.objects.filter(invoice=OuterRef("pk")).order_by("-created_at", "-id")
    default = PaymentMethod.objects.filter(customer=OuterRef("customer_id"), is_default=True)
    schedule_length = schedule_ends_at(now) - now
    new_method = Q(method__isnull=False) & (Q(last_method__isnull=True) | ~Q(last_method=F("method")))
    in_grace = Q(subscription__status=S.GRACE) & (Q(payment_failed_at__lte=now - schedule_length)
                                                  | Q(last_decline=Payment.DeclineType.SOFT))
    return (Invoice.objects.filter(status=Invoice.Status.OPEN, next_retry_at__isnull=True,
                                   payment_failed_at__isnull=False,
                                   subscription__status__in=[S.GRACE, S.SUSPENDED])
            .annotate(last_method=Subquery(latest.values("payment_method_id")[:1]),
                      last_decline=Subquery(latest.values("decline_type")[:1]),
                      method=Subquery(default.values("pk")[:1]))
            .filter(new_method | in_grace))


# ---- Expiry ----------------------------------------------------------------------------------------------------

def _expire_step(subscription: Subscription, now: datetime) -> tuple[str, Step | None]:
    days = settings.PORTAL["EXPIRE_AFTER_SUSPENDED_DAYS"]
    store_days = settings.PORTAL["STORE_RENEWAL_GRACE_DAYS"]
    if subscription.status == S.SUSPENDED:
        since = subscription.suspended_at or subscription.current_period_end
        if since > now - timedelta(days=days):
            return NOT_DUE, None
        summary = f"Expired after {days} days suspended with an unpaid invoice"
    elif subscription.status in (S.TRIAL, S.ACTIVE) and not subscription.cancel_at_period_end:
        ended = (subscription.trial_end or subscription.current_period_end if subscription.status == S.TRIAL
                 else subscription.current_period_end)
        if (not store_billed(subscription.customer, default_method(subscription.customer_id))
                or ended > now - timedelta(days=store_days)):
            return NOT_DUE, None
        what = "trial" if subscription.status == S.TRIAL else "term"
        summary = f"Expired: its {what} ended on {ended:%-d %b %Y} and the store did not renew it"
    else:
        return NOT_DUE, None
    _email(subscription.customer, EMAIL_EXPIRED)
    closed = Invoice.objects.filter(subscription=subscription, status=Invoice.Status.OPEN).update(
        status=Invoice.Status.UNCOLLECTIBLE, next_retry_at=None)
    subscription_record(subscription, actor=None, action="expire", summary=summary,
                        changes={"status": event_target(subscription.status, "expire"), "ended_at": now},
                        data={"uncollectible_invoices": closed})
    return "expire", None


# ---- Cancel once settled ---------------------------------------------------------------------------------------

ALL_IDS = 2**63 - 1  # the walk over waiting cancels has no due time: every id is "due"


def _cancel_after_settle_step(subscription: Subscription, now: datetime) -> tuple[str, Step | None]:
    """A cancel an agent asked for while a payment was pending: carried out by the cancel service itself
    (subscriptions/services.py), which refuses while a payment of the customer is still processing or an invoice is
    in dunning, and once allowed cancels now or at period end with the stored reason."""
    from subscriptions.services import ActionRefused, subscription_cancel

    when = subscription.cancel_after_settle
    if not when:
        return NOT_DUE, None
    if subscription.status in Subscription.ENDED_STATUSES:
        subscription_record(subscription, actor=None, action="cancel_after_settle_dropped",
                            summary="The cancel waiting for a payment was dropped: the subscription has ended",
                            changes={"cancel_after_settle": ""})
        return "cancel_after_settle_dropped", None
    reason = subscription.cancel_reason or Subscription.CancelReason.OTHER
    try:
        result = subscription_cancel(subscription=subscription, when=when, reason=reason, actor=None,
                                     after_settle=True)
    except ActionRefused as refused:  # suspended: waits for its invoice to be paid, or for the expiry
        log.info("billing.cancel_waits", subscription=subscription.public_id, code=refused.code)
        return WAITING, None
    if not result.changed or result.subscription.cancel_after_settle:
        return WAITING, None  # still pending: the service left it set to cancel once it settles
    return ("cancelled" if result.subscription.status == S.CANCELLED else "cancel_scheduled"), None


# ---- Jobs ------------------------------------------------------------------------------------------------------
#
# Each job is its walks, (rows, due key, due up to), and the step applied to each due row. A walk's rows and key
# match one partial index (the comment names it; tests/subscriptions/test_billing_indexes.py checks the plans).

Walk = tuple[QuerySet, str, object]


def _trials() -> QuerySet:
    """Trials not set to cancel, with when they end (`subscription_trial_due`)."""
    return (Subscription.objects.filter(status=S.TRIAL, cancel_at_period_end=False)
            .annotate(trial_ends=Coalesce("trial_end", "current_period_end")))


def trial_end_walks(now: datetime) -> list[Walk]:
    return [(_trials().exclude(customer__storefront__kind__in=STORE_KINDS), "trial_ends", now)]


def renewal_walks(now: datetime) -> list[Walk]:
    due = (Subscription.objects.filter(status=S.ACTIVE, cancel_at_period_end=False)  # subscription_renewal_due
           .exclude(customer__storefront__kind__in=STORE_KINDS))
    return [(due, "current_period_end", now)]


def period_end_cancel_walks(now: datetime) -> list[Walk]:
    due = Subscription.objects.filter(status__in=Subscription.LIVE_STATUSES,  # subscription_period_end_due
                                      cancel_at_period_end=True)
    return [(due, "current_period_end", now)]


def resume_walks(now: datetime) -> list[Walk]:
    due = Subscription.objects.filter(status=S.PAUSED, resume_on__isnull=False)  # subscription_resume_due
    return [(due, "resume_on", timezone.localdate(now))]


def dunning_walks(now: datetime) -> list[Walk]:
    due = Invoice.objects.filter(status=Invoice.Status.OPEN, next_retry_at__isnull=False)  # invoice_retry_due
    return [(due, "next_retry_at", now), (_waiting_invoices(now), "payment_failed_at", now)]  # invoice_dunning_waiting


def expiry_walks(now: datetime) -> list[Walk]:
    suspended = Subscription.objects.filter(status=S.SUSPENDED)  # subscription_suspended_since
    in_store = Q(customer__storefront__kind__in=STORE_KINDS)
    unrenewed = Subscription.objects.filter(in_store, status=S.ACTIVE, cancel_at_period_end=False)
    store_wait = now - timedelta(days=settings.PORTAL["STORE_RENEWAL_GRACE_DAYS"])
    return [(suspended, "suspended_at", now - timedelta(days=settings.PORTAL["EXPIRE_AFTER_SUSPENDED_DAYS"])),
            (unrenewed, "current_period_end", store_wait),  # subscription_renewal_due
            (_trials().filter(in_store), "trial_ends", store_wait)]  # subscription_trial_due


def cancel_after_settle_walks(now: datetime) -> list[Walk]:
    return [(Subscription.objects.exclude(cancel_after_settle=""), "id", ALL_IDS)]  # subscription_cancel_waiting


def run_trial_ends(*, now: datetime | None = None) -> dict[str, int]:
    """Trials whose end came: the first invoice is issued and charged; converted to active, or grace."""
    now = now or timezone.now()
    return _run("trial_ends", trial_end_walks(now), _trial_step, now)


def run_renewals(*, now: datetime | None = None) -> dict[str, int]:
    """Active subscriptions whose period ended (and not set to cancel): renewed, or grace when the charge fails."""
    now = now or timezone.now()
    return _run("renewals", renewal_walks(now), _renewal_step, now)


def run_period_end_cancels(*, now: datetime | None = None) -> dict[str, int]:
    """Subscriptions set to cancel at period end whose period ended: cancelled."""
    now = now or timezone.now()
    return _run("period_end_cancels", period_end_cancel_walks(now), _period_end_cancel_step, now)


def run_resumes(*, now: datetime | None = None) -> dict[str, int]:
    """Paused subscriptions whose resume date came: active again (invoiced and charged when the paid period was
    used up)."""
    now = now or timezone.now()
    return _run("resumes", resume_walks(now), _resume_step, now)


def run_dunning(*, now: datetime | None = None) -> dict[str, int]:
    """Unpaid invoices: retries that are due, new cards, and schedules that ended (suspended)."""
    now = now or timezone.now()
    return _run("dunning", dunning_walks(now), _dunning_step, now, by_invoice=True)


def run_expiry(*, now: datetime | None = None) -> dict[str, int]:
    """Suspended too long, or a store-billed trial or term that ended unrenewed: expired."""
    now = now or timezone.now()
    return _run("expiry", expiry_walks(now), _expire_step, now)


def run_cancels_after_settle(*, now: datetime | None = None) -> dict[str, int]:
    """Cancels that waited for a payment to settle: carried out once nothing is processing or in dunning."""
    now = now or timezone.now()
    return _run("cancels_after_settle", cancel_after_settle_walks(now), _cancel_after_settle_step, now)


JOBS: tuple[tuple[str, Callable[..., dict[str, int]]], ...] = (
    ("trial_ends", run_trial_ends),
    ("renewals", run_renewals),
    ("period_end_cancels", run_period_end_cancels),
    ("resumes", run_resumes),
    ("dunning", run_dunning),
    ("expiry", run_expiry),
    ("cancels_after_settle", run_cancels_after_settle),
)
WALKS = (trial_end_walks, renewal_walks, period_end_cancel_walks, resume_walks, dunning_walks, expiry_walks,
         cancel_after_settle_walks)


def run_all(*, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Every billing job, in order, with one clock: what each did."""
    now = now or timezone.now()
    return {name: job(now=now) for name, job in JOBS}
