"""Reads for the subscription pages: the action menu of the profile's Subscriptions tab, the plans a subscription
may change to, and the retention report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone

from payments.models import Invoice, Payment
from portal.money import currencies_without_rate, reporting_currency, to_reporting
from subscriptions.models import Plan, RetentionOffer, Subscription
from subscriptions.retention import route_descriptions
from subscriptions.transitions import ACTION_LABELS, Verdict

# ---- The action menu -------------------------------------------------------------------------------------------

SCHEDULED_CHANGE_CANCEL = "scheduled_change_cancel"  # not a transition: it drops a plan change set for the renewal
# The URL part of each dialog (subscriptions/urls.py), by transitions action.
ACTION_SLUGS = {"change_plan": "plan", "cancel": "cancel", "undo_cancel": "keep", "pause": "pause",
                "resume": "resume", "extend_trial": "extend-trial"}
DIALOG_LABELS = {"change_plan": "Change plan…", "cancel": "Cancel…", "undo_cancel": "Keep subscription…",
                 "pause": "Pause…", "resume": "Resume…", "extend_trial": "Extend trial…"}


@dataclass(frozen=True)
class MenuAction:
    action: str  # transitions.ACTIONS, or "scheduled_change_cancel"
    label: str
    url: str  # the dialog (GET), or for "scheduled_change_cancel" the POST
    verdict: Verdict

    @property
    def disabled(self) -> bool:
        """Refused, and no way out that the dialog offers (a pending payment's "cancel once it settles" is one)."""
        return not self.verdict.allowed and not self.verdict.offer

    @property
    def note(self) -> str:
        return self.verdict.reason if not self.verdict.allowed else ""


def _shown(subscription: Subscription, action: str) -> bool:
    """Which actions the menu shows. Pause and Resume take turns (Resume on a paused or suspended subscription,
    Pause otherwise); Keep subscription shows while a cancel waits. Every other action is always shown, refused
    ones disabled with their sentence."""
    stopped = subscription.status in (Subscription.Status.PAUSED, Subscription.Status.SUSPENDED)
    if action == "pause":
        return not stopped
    if action == "resume":
        return stopped
    if action == "undo_cancel":
        return subscription.cancel_at_period_end or bool(subscription.cancel_after_settle)
    return True


def subscription_menu(subscription: Subscription, verdicts: dict[str, Verdict]) -> list[MenuAction]:
    """The buttons of the Subscriptions tab for `subscription`, from the services' verdicts."""
    order = ("change_plan", "undo_cancel", "cancel", "pause", "resume", "extend_trial")
    menu = []
    for action in order:
        if not _shown(subscription, action):
            continue
        verdict = verdicts[action]
        label = DIALOG_LABELS[action]
        if verdict.offer == "cancel_when_settled":
            label = "Cancel once it settles…"
        menu.append(MenuAction(action, label, reverse("subscriptions:action", kwargs={
            "public_id": subscription.public_id, "action": ACTION_SLUGS[action]}) if action != "cancel" else
            reverse("subscriptions:cancel_new", kwargs={"public_id": subscription.public_id}), verdict))
    if subscription.scheduled_plan_id is not None:  # "Cancel the change": a plain POST, no dialog
        verdict = verdicts.get(SCHEDULED_CHANGE_CANCEL) or verdicts["change_plan"]
        menu.append(MenuAction(SCHEDULED_CHANGE_CANCEL, "Cancel the change", reverse(
            "subscriptions:scheduled_change_cancel", kwargs={"public_id": subscription.public_id}), verdict))
    return menu


def menu_notes(menu: list[MenuAction]) -> list[tuple[str, str]]:
    """(labels, sentence) for the refused actions, one line per distinct sentence; no label when the sentence
    already starts with it ("Cancel is blocked: …")."""
    notes: dict[str, list[str]] = {}
    for item in menu:
        if item.note:
            notes.setdefault(item.note, []).append(ACTION_LABELS.get(item.action, item.label.rstrip("…")))
    return [("" if len(labels) == 1 and sentence.lower().startswith(labels[0].lower()) else ", ".join(labels),
             sentence) for sentence, labels in notes.items()]


def settling_payment(subscription: Subscription) -> str:
    """The payment a "cancel once it settles" waits for: one in flight, else the last attempt on an invoice in
    dunning (its public id, or the invoice number); "" when none."""
    pending = (Payment.objects.filter(customer_id=subscription.customer_id,
                                      status__in=[Payment.Status.PENDING, Payment.Status.UNKNOWN])
               .order_by("-created_at", "-id").values_list("public_id", flat=True).first())
    if pending:
        return pending
    invoice = (Invoice.objects.filter(subscription=subscription, status=Invoice.Status.OPEN)
               .order_by("-issued_at", "-id").first())
    if invoice is None:
        return ""
    return (Payment.objects.filter(invoice=invoice).order_by("-created_at", "-id")
            .values_list("public_id", flat=True).first() or invoice.number)


# ---- Plans -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanChoice:
    plan: Plan
    why_not: str  # "" when the subscription may change to it

    @property
    def code(self) -> str:
        return self.plan.code


def plan_choices(subscription: Subscription) -> list[PlanChoice]:
    """Every active plan: those the subscription may change to first (the same currency and billing interval, as
    the plan-change service requires), then the others with why not (its own plan, another currency or
    interval). The dialog's form accepts only the first kind."""
    current = subscription.plan
    choices = []
    for plan in Plan.objects.filter(is_active=True).order_by("currency", "interval", "rank", "price", "pk"):
        if plan.pk == current.pk:
            why = "its current plan"
        elif plan.currency != current.currency:
            why = f"billed in {plan.currency}; this subscription is billed in {current.currency}"
        elif plan.interval != current.interval:
            why = (f"billed {plan.get_interval_display().lower()}: switching between monthly and yearly means a new "
                   f"subscription")
        else:
            why = ""
        choices.append(PlanChoice(plan, why))
    choices.sort(key=lambda choice: (choice.plan.currency != current.currency,
                                     choice.plan.interval != current.interval))
    return choices


def default_plan(subscription: Subscription, choices: list[PlanChoice]) -> Plan | None:
    """The plan the dialog opens on: the next one up, else the first allowed."""
    current = subscription.plan
    allowed = [choice.plan for choice in choices if not choice.why_not]
    up = [plan for plan in allowed if (plan.rank, plan.price) > (current.rank, current.price)]
    return up[0] if up else (allowed[0] if allowed else None)


# ---- Retention report ------------------------------------------------------------------------------------------

REPORT_WINDOWS = (30, 90)


@dataclass
class RetentionRow:
    reason: str
    label: str
    requests: int = 0  # cancel requests that got to the offer step
    offers: int = 0  # of them, with an offer (kind other than none)
    accepted: int = 0
    declined: int = 0
    saved: int = 0  # monthly revenue kept by the accepted offers, reporting currency minor units
    kinds: dict[str, int] = field(default_factory=dict)  # offers made, by kind
    route: str = ""  # what the reason gets now (subscriptions/retention.py), in words

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.offers if self.offers else None

    def add(self, other: RetentionRow) -> None:
        self.requests += other.requests
        self.offers += other.offers
        self.accepted += other.accepted
        self.declined += other.declined
        self.saved += other.saved
        for kind, count in other.kinds.items():
            self.kinds[kind] = self.kinds.get(kind, 0) + count


@dataclass(frozen=True)
class RetentionReport:
    days: int
    since: datetime
    currency: str
    rows: list[RetentionRow]
    total: RetentionRow
    missing_rates: list[str]  # currencies whose saved revenue could not be converted (left out of `saved`)


def retention_report(*, days: int = 30, now: datetime | None = None) -> RetentionReport:
    """Cancel requests, offers made and accepted, and monthly revenue saved, by reason, over the last `days`: one
    grouped query over the offers (no personal data: counts and sums)."""
    since = (now or timezone.now()) - timedelta(days=days)
    groups = (RetentionOffer.objects.filter(created_at__gte=since)
              .values("reason", "kind", "status", "currency")
              .annotate(count=Count("id"), saved=Sum("mrr_saved")).order_by())
    routes = route_descriptions()
    rows = {reason: RetentionRow(reason, label, route=routes[reason])
            for reason, label in Subscription.CancelReason.choices}
    missing = currencies_without_rate({group["currency"] for group in groups})
    for group in groups:
        row = rows[group["reason"]]
        row.requests += group["count"]
        if group["kind"] == RetentionOffer.Kind.NONE:
            continue
        row.offers += group["count"]
        row.kinds[group["kind"]] = row.kinds.get(group["kind"], 0) + group["count"]
        if group["status"] == RetentionOffer.Status.ACCEPTED:
            row.accepted += group["count"]
            if group["currency"] not in missing:
                row.saved += to_reporting(group["saved"] or 0, group["currency"])
        elif group["status"] == RetentionOffer.Status.DECLINED:
            row.declined += group["count"]
    total = RetentionRow("", "All reasons")
    for row in rows.values():
        total.add(row)
    return RetentionReport(days=days, since=since, currency=reporting_currency(), rows=list(rows.values()),
                           total=total, missing_rates=missing)


def subscription_tab_actions(subscription: Subscription, actor) -> dict:
    """What the Subscriptions tab shows about the actions on its first subscription (the live, else the latest):
    the menu, the distinct reasons of the refused actions, and the payment a waiting cancel waits for."""
    from subscriptions.services import action_verdicts

    menu = subscription_menu(subscription, action_verdicts(subscription, actor=actor))
    return {"menu_subscription": subscription, "menu": menu, "menu_notes": menu_notes(menu),
            "settling_payment": settling_payment(subscription) if subscription.cancel_after_settle else ""}
