"""Retention offers: what an agent offers a customer who asks to cancel, routed by the reason they give.

The rules (reason → kind of offer; a kind that cannot apply falls back along FALLBACK):

    not_using        pause      a pause of RETENTION_PAUSE_MONTHS (1) month, up to RETENTION_PAUSE_MAX_MONTHS (3)
    too_expensive    downgrade  the cheapest active plan of the same currency and interval below the current price
    missing_feature  discount   RETENTION_DISCOUNT_PERCENT (20) % off the next RETENTION_DISCOUNT_CYCLES (3) renewals
    switching        discount
    technical        none       nothing to offer: the agent goes on to the cancel
    other            none

`settings.RETENTION_OFFERS` (env `RETENTION_OFFERS="missing_feature=discount,technical=none"`) replaces the kind of
any reason. A pause applies where the transition table allows one (not in a trial or while a payment fails), a
downgrade where the plan may change and a cheaper plan exists, a discount where the plan costs something and no
discount is running yet.

`mrr_saved` is the monthly revenue the business keeps if the customer accepts, in the subscription's currency
(minor units), compared with losing the subscription:
    pause      the plan's full monthly price: nothing is billed during the pause, but the subscription (and its
               price) comes back instead of churning
    discount   the monthly price × (100 − percent) / 100, rounded down
    downgrade  the cheaper plan's monthly price

Services: `retention_offer_make` records the offer when the cancel dialog shows it (once per dialog and reason,
through `request_key`), `retention_offer_accept` carries it out through the subscription services (a pause with a
resume date, a plan change at renewal, or the discount the billing job applies to renewal invoices), and
`retention_offer_decline` records the refusal; the cancel then goes ahead. The report of offers made, accepted and
revenue saved reads these rows (subscriptions/selectors.py).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from customers.models import ActivityEvent, Customer
from portal.audit import Timeline, audit_record
from portal.errors import DomainError
from portal.money import format_money
from subscriptions.models import Plan, RetentionOffer, Subscription
from subscriptions.state import subscription_record
from subscriptions.transitions import allowed

Kind = RetentionOffer.Kind
Reason = Subscription.CancelReason

DEFAULT_ROUTES: dict[str, str] = {
    Reason.NOT_USING: Kind.PAUSE,
    Reason.TOO_EXPENSIVE: Kind.DOWNGRADE,
    Reason.MISSING_FEATURE: Kind.DISCOUNT,
    Reason.SWITCHING: Kind.DISCOUNT,
    Reason.TECHNICAL: Kind.NONE,
    Reason.OTHER: Kind.NONE,
}
# What is offered instead when a kind cannot apply to this subscription.
FALLBACK: dict[str, str] = {Kind.PAUSE: Kind.DISCOUNT, Kind.DOWNGRADE: Kind.DISCOUNT, Kind.DISCOUNT: Kind.NONE}


@dataclass(frozen=True)
class Offer:
    """One offer for one subscription. `terms` holds ids and numbers only: {"months"}, {"plan", "price"} or
    {"percent", "cycles"}."""

    kind: str
    terms: dict = field(default_factory=dict)
    sentence: str = ""  # what the agent reads: "Offer a pause of 1 month instead."
    mrr_saved: int = 0
    currency: str = "USD"


def routes() -> dict[str, str]:
    """Reason → kind of offer: the defaults, with settings.RETENTION_OFFERS on top (checked here)."""
    configured = dict(settings.RETENTION_OFFERS)
    unknown = sorted(set(configured) - set(Reason.values))
    kinds = sorted({kind for kind in configured.values() if kind not in Kind.values})
    if unknown or kinds:
        raise ImproperlyConfigured(
            f"RETENTION_OFFERS: unknown {'reasons ' + ', '.join(unknown) if unknown else ''}"
            f"{' and ' if unknown and kinds else ''}{'kinds ' + ', '.join(kinds) if kinds else ''} "
            f"(reasons: {', '.join(Reason.values)}; kinds: {', '.join(Kind.values)}).")
    return {**DEFAULT_ROUTES, **configured}


def route_descriptions() -> dict[str, str]:
    """Reason → what it is offered now, in words, with the fallbacks ("a pause, else a discount")."""
    first, most = settings.RETENTION_PAUSE_MONTHS, settings.RETENTION_PAUSE_MAX_MONTHS
    words = {Kind.PAUSE: f"a pause of {first}{f'–{most}' if most > first else ''} month{'s' if most > 1 else ''}",
             Kind.DOWNGRADE: "a cheaper plan",
             Kind.DISCOUNT: f"{settings.RETENTION_DISCOUNT_PERCENT}% off {settings.RETENTION_DISCOUNT_CYCLES} renewals"}
    described = {}
    for reason, kind in routes().items():
        chain = []
        while kind != Kind.NONE:
            chain.append(words[kind])
            kind = FALLBACK[kind]
        described[reason] = (", else ".join(chain) or "no offer").capitalize()
    return described


def pause_months_choices() -> list[int]:
    return list(range(1, max(settings.RETENTION_PAUSE_MAX_MONTHS, 1) + 1))


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it is shorter)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# ---- Which offer ----------------------------------------------------------------------------------------------

def _cheaper_plan(subscription: Subscription) -> Plan | None:
    plan = subscription.plan
    return (Plan.objects.filter(is_active=True, currency=plan.currency, interval=plan.interval, price__lt=plan.price)
            .exclude(pk=plan.pk).order_by("price", "rank", "pk").first())


def _pause(subscription: Subscription) -> Offer | None:
    if not allowed(subscription.status, "pause").allowed:
        return None
    months = min(max(settings.RETENTION_PAUSE_MONTHS, 1), max(settings.RETENTION_PAUSE_MAX_MONTHS, 1))
    plan = subscription.plan
    return Offer(Kind.PAUSE, {"months": months}, describe(Kind.PAUSE, {"months": months}, plan.currency, plan=plan),
                 plan.monthly_price, plan.currency)


def _downgrade(subscription: Subscription) -> Offer | None:
    if not allowed(subscription.status, "change_plan").allowed or subscription.scheduled_plan_id:
        return None
    cheaper = _cheaper_plan(subscription)
    if cheaper is None:
        return None
    terms = {"plan": cheaper.code, "price": cheaper.price}
    return Offer(Kind.DOWNGRADE, terms, describe(Kind.DOWNGRADE, terms, cheaper.currency, plan=cheaper),
                 cheaper.monthly_price, cheaper.currency)


def _discount(subscription: Subscription) -> Offer | None:
    percent, cycles = settings.RETENTION_DISCOUNT_PERCENT, settings.RETENTION_DISCOUNT_CYCLES
    plan = subscription.plan
    if not (0 < percent <= 100 and cycles > 0) or plan.price <= 0 or subscription.discount_cycles_left:
        return None
    terms = {"percent": percent, "cycles": cycles}
    return Offer(Kind.DISCOUNT, terms, describe(Kind.DISCOUNT, terms, plan.currency, plan=plan),
                 plan.monthly_price * (100 - percent) // 100, plan.currency)


_BUILDERS = {Kind.PAUSE: _pause, Kind.DOWNGRADE: _downgrade, Kind.DISCOUNT: _discount}


def offer_for(subscription: Subscription, reason: str) -> Offer | None:
    """The offer for a customer who wants to cancel `subscription` for `reason` (None: nothing to offer).

    Reads only (the cheaper plan): the API's cancel preview and the cancel dialog both ask this.
    """
    if reason not in Reason.values:
        raise DomainError("Choose why the customer is cancelling.", code="invalid_reason")
    kind = routes()[reason]
    while kind != Kind.NONE:
        offer = _BUILDERS[kind](subscription)
        if offer is not None:
            return offer
        kind = FALLBACK[kind]
    return None


def describe(kind: str, terms: dict, currency: str, *, plan: Plan | None = None, short: bool = False) -> str:
    """The offer in words: the agent's sentence ("Offer a pause of 1 month instead."), or with `short` the phrase
    the timeline and messages use ("a pause of 1 month")."""
    if kind == Kind.PAUSE:
        months = terms.get("months", 1)
        phrase = f"a pause of {months} month{'s' if months != 1 else ''}"
        most = settings.RETENTION_PAUSE_MAX_MONTHS
        sentence = (f"Offer {phrase} instead (up to {most} months): nothing is billed meanwhile, and the "
                    f"subscription resumes on its own.")
    elif kind == Kind.DOWNGRADE:
        name = plan.name if plan is not None else terms.get("plan", "")
        every = plan.interval if plan is not None else "month"
        phrase = f"{name} at {format_money(terms.get('price', 0), currency)} a {every} from the next renewal"
        sentence = f"Offer {phrase}, instead of cancelling."
    elif kind == Kind.DISCOUNT:
        cycles = terms.get("cycles", 0)
        phrase = (f"{terms.get('percent', 0)}% off the next {cycles} renewal{'s' if cycles != 1 else ''}"
                  if cycles != 1 else f"{terms.get('percent', 0)}% off the next renewal")
        sentence = f"Offer {phrase} instead."
    else:
        phrase = "no offer"
        sentence = "There is no retention offer for this reason: go on to the cancel."
    return phrase if short else sentence


def offer_of(row: RetentionOffer) -> Offer:
    """The Offer a stored row records (for showing it again)."""
    return Offer(row.kind, dict(row.terms), describe(row.kind, row.terms, row.currency, plan=_plan_of(row)),
                 row.mrr_saved, row.currency)


# ---- Services --------------------------------------------------------------------------------------------------

def _lock(subscription_id: int, customer_id: int) -> Subscription:
    """Customer → subscription, the portal's lock order."""
    Customer.objects.select_for_update(no_key=True).get(pk=customer_id)
    return (Subscription.objects.select_for_update(no_key=True, of=("self",))
            .select_related("plan", "customer").get(pk=subscription_id))


def _record(offer: RetentionOffer, subscription: Subscription, *, actor, verb: str, summary: str) -> None:
    audit_record(actor=actor, action=f"subscriptions.retention_offer.{verb}", customer=subscription.customer,
                 obj=subscription,
                 data={"subscription": subscription.public_id, "offer": offer.pk, "reason": offer.reason,
                       "kind": offer.kind, "terms": offer.terms, "mrr_saved": offer.mrr_saved,
                       "currency": offer.currency},
                 timeline=Timeline(ActivityEvent.Kind.SUBSCRIPTION, summary, {"subscription": subscription.public_id}))


@transaction.atomic
def retention_offer_make(*, subscription: Subscription, reason: str, actor,
                         request_key: str | None = None) -> RetentionOffer:
    """Record the offer shown to a customer who asked to cancel for `reason` (kind `none` when there is nothing to
    offer: the request is counted all the same). A `request_key` already used returns the offer it recorded."""
    if reason not in Reason.values:
        raise DomainError("Choose why the customer is cancelling.", code="invalid_reason")
    subscription = _lock(subscription.pk, subscription.customer_id)
    if request_key:
        earlier = RetentionOffer.objects.filter(request_key=request_key).first()
        if earlier is not None:
            if earlier.subscription_id != subscription.pk or earlier.reason != reason:
                raise DomainError("This form was already used for another request; reload the page.",
                                  code="request_key_reused")
            return earlier
    verdict = allowed(subscription.status, "cancel")
    if not verdict.allowed:
        raise DomainError(verdict.reason, code=verdict.code)
    offer = offer_for(subscription, reason)
    row = RetentionOffer.objects.create(
        subscription=subscription, reason=reason, kind=offer.kind if offer else Kind.NONE,
        terms=offer.terms if offer else {}, mrr_saved=offer.mrr_saved if offer else 0,
        currency=subscription.plan.currency, created_by=actor if getattr(actor, "is_authenticated", False) else None,
        created_at=timezone.now(), request_key=request_key or None)
    label = Reason(reason).label
    shown = (f"offered {describe(row.kind, row.terms, row.currency, short=True, plan=_plan_of(row))}" if offer
             else "no retention offer for this reason")
    _record(row, subscription, actor=actor, verb="made", summary=f"Asked to cancel ({label}): {shown}.")
    return row


def _plan_of(row: RetentionOffer) -> Plan | None:
    return Plan.objects.filter(code=row.terms.get("plan")).first() if row.kind == Kind.DOWNGRADE else None


def _locked_offer(offer: RetentionOffer) -> tuple[RetentionOffer, Subscription]:
    subscription = Subscription.objects.only("customer_id").get(pk=offer.subscription_id)
    subscription = _lock(subscription.pk, subscription.customer_id)
    return RetentionOffer.objects.select_for_update(no_key=True).get(pk=offer.pk), subscription


@transaction.atomic
def retention_offer_accept(*, offer: RetentionOffer, actor, months: int | None = None,
                           request_key: str | None = None) -> RetentionOffer:
    """The customer takes the offer: carry it out and record it accepted. A pause may be given `months` (1 to
    RETENTION_PAUSE_MAX_MONTHS) other than the one offered. Accepting an accepted offer changes nothing; an offer
    the customer declined may still be accepted while the subscription is live."""
    offer, subscription = _locked_offer(offer)
    if offer.status == RetentionOffer.Status.ACCEPTED:
        return offer
    if offer.kind == Kind.NONE:
        raise DomainError("No offer was made for this reason: there is nothing to accept.", code="no_offer")
    terms = dict(offer.terms)
    if offer.kind == Kind.PAUSE:
        from subscriptions.services import subscription_pause

        months = terms.get("months", 1) if months is None else months
        if months not in pause_months_choices():
            raise DomainError(f"A retention pause lasts 1 to {settings.RETENTION_PAUSE_MAX_MONTHS} months.",
                              code="invalid_months")
        terms["months"] = months
        subscription_pause(subscription=subscription, resume_on=add_months(timezone.localdate(), months),
                           actor=actor, request_key=request_key)
    elif offer.kind == Kind.DOWNGRADE:
        from subscriptions.services import subscription_change_plan

        plan = Plan.objects.filter(code=terms.get("plan"), is_active=True).first()
        if plan is None:
            raise DomainError("The plan offered is no longer sold; make the offer again.", code="plan_inactive")
        subscription_change_plan(subscription=subscription, plan=plan, when="renewal", actor=actor,
                                 request_key=request_key)
    else:
        if subscription.discount_cycles_left:
            raise DomainError("A discount already runs on this subscription.", code="discount_running")
        if not subscription.is_live:
            raise DomainError("The subscription is no longer live; a discount would apply to nothing.",
                              code="not_live")
        percent, cycles = terms["percent"], terms["cycles"]
        subscription_record(
            subscription, actor=actor, action="discount_granted",
            summary=f"Retention discount: {describe(Kind.DISCOUNT, terms, offer.currency, short=True)}.",
            changes={"discount_percent": percent, "discount_cycles_left": cycles},
            data={"percent": percent, "cycles": cycles})
    offer.status, offer.terms, offer.decided_at = RetentionOffer.Status.ACCEPTED, terms, timezone.now()
    offer.save(update_fields=["status", "terms", "decided_at"])
    phrase = describe(offer.kind, terms, offer.currency, short=True, plan=_plan_of(offer))
    _record(offer, subscription, actor=actor, verb="accepted",
            summary=f"Retention offer accepted ({Reason(offer.reason).label}): {phrase}.")
    return offer


@transaction.atomic
def retention_offer_decline(*, offer: RetentionOffer, actor) -> RetentionOffer:
    """The customer turns the offer down (the cancel goes ahead). Declining again changes nothing."""
    offer, subscription = _locked_offer(offer)
    if offer.status == RetentionOffer.Status.DECLINED:
        return offer
    if offer.status == RetentionOffer.Status.ACCEPTED:
        raise DomainError("This offer was already accepted.", code="offer_accepted")
    offer.status, offer.decided_at = RetentionOffer.Status.DECLINED, timezone.now()
    offer.save(update_fields=["status", "decided_at"])
    if offer.kind != Kind.NONE:
        phrase = describe(offer.kind, offer.terms, offer.currency, short=True, plan=_plan_of(offer))
        _record(offer, subscription, actor=actor, verb="declined",
                summary=f"Retention offer declined ({Reason(offer.reason).label}): {phrase}.")
    else:
        audit_record(actor=actor, action="subscriptions.retention_offer.declined", customer=subscription.customer,
                     obj=subscription, data={"subscription": subscription.public_id, "offer": offer.pk,
                                             "reason": offer.reason, "kind": offer.kind})
    return offer


def accepted_message(offer: RetentionOffer, subscription: Subscription) -> str:
    """What the agent reads once the customer took the offer."""
    subscription.refresh_from_db()
    if offer.kind == Kind.PAUSE:
        months = offer.terms.get("months", 1)
        return (f"Kept: paused for {months} month{'s' if months != 1 else ''}; resumes on "
                f"{subscription.resume_on:%-d %b %Y} at "
                f"{format_money(subscription.plan.price, subscription.plan.currency)}.")
    if offer.kind == Kind.DOWNGRADE:
        return f"Kept: {describe(Kind.DOWNGRADE, offer.terms, offer.currency, short=True, plan=_plan_of(offer))}."
    return f"Kept with {describe(Kind.DISCOUNT, offer.terms, offer.currency, short=True)}."
