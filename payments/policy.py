"""Who may move money back to a customer, and when: the refund, credit and retry rules in one place.

Every rule answers with a `Verdict`: allowed, needs a manager's approval, or refused, always with the sentence an
agent reads (on the disabled button, in the dialog before submitting, in the API error). Services call these same
functions, so the page and the action never disagree.

Refunds (in this order):
1. refused: the payment was made through the App Store or Google Play ("Refund this in App Store Connect"), it has
   an open dispute, it was not captured, nothing is left to refund, or the amount is more than what is left
   (refunds made, pending, and awaiting approval all count);
2. needs approval: outside the refund window (the plan's window, else the storefront's, else the configured
   default; counted in whole days since the payment), or above the role's refund limit (the limit is in the
   reporting currency; managers have a larger one, and even a manager's own refund above it goes to another
   manager);
3. otherwise allowed.
Credit grants above the role's credit limit need approval; debits may not take the balance below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.utils import timezone

from customers.models import Storefront
from payments.models import Payment, PaymentMethod, PaymentRules
from portal.money import UnknownCurrency, format_money, reporting_currency, to_reporting
from portal.roles import Cap, has_capability

ALLOWED, NEEDS_APPROVAL, REFUSED = "allowed", "needs_approval", "refused"
APP_STORE_KINDS = {PaymentMethod.Kind.APP_STORE: "App Store Connect", PaymentMethod.Kind.GOOGLE_PLAY:
                   "the Google Play Console"}


@dataclass(frozen=True)
class Verdict:
    decision: Literal["allowed", "needs_approval", "refused"]
    reason: str = ""  # the sentence shown to the agent ("" when allowed without remark)
    code: str = ""  # stable for the API: window, limit, channel, disputed, not_captured, nothing_left, amount, role

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED

    @property
    def refused(self) -> bool:
        return self.decision == REFUSED


def payment_rules() -> PaymentRules:
    """The configured rules (the row is created from the environment's defaults the first time it is read)."""
    defaults = settings.PORTAL
    rules, _ = PaymentRules.objects.get_or_create(pk=1, defaults={
        "default_refund_window_days": defaults["DEFAULT_REFUND_WINDOW_DAYS"],
        "agent_refund_limit": defaults["AGENT_REFUND_LIMIT"],
        "manager_refund_limit": defaults["MANAGER_REFUND_LIMIT"],
        "agent_credit_limit": defaults["AGENT_CREDIT_LIMIT"],
        "manager_credit_limit": defaults["MANAGER_CREDIT_LIMIT"],
    })
    return rules


def _is_manager(actor) -> bool:
    return has_capability(actor, Cap.APPROVE_REQUESTS)


def refund_limit(actor, rules: PaymentRules) -> int:
    return rules.manager_refund_limit if _is_manager(actor) else rules.agent_refund_limit


def credit_limit(actor, rules: PaymentRules) -> int:
    return rules.manager_credit_limit if _is_manager(actor) else rules.agent_credit_limit


def refund_window(payment: Payment, rules: PaymentRules) -> tuple[int, str]:
    """(days, where the window comes from): the plan's, else the storefront's, else the default."""
    invoice = payment.invoice
    plan = invoice.subscription.plan if invoice is not None and invoice.subscription_id else None
    if plan is not None and plan.refund_window_days is not None:
        return plan.refund_window_days, f"set for the {plan.name} plan"
    storefront = payment.customer.storefront
    if storefront.refund_window_days is not None:
        return storefront.refund_window_days, f"set for the {storefront.name} storefront"
    return rules.default_refund_window_days, "the default"


def refund_channel(payment: Payment) -> str | None:
    """Where a payment must be refunded when it is not here (an app store), else None."""
    method = payment.payment_method
    if method is not None and method.kind in APP_STORE_KINDS:
        return APP_STORE_KINDS[method.kind]
    if payment.gateway in APP_STORE_KINDS:
        return APP_STORE_KINDS[payment.gateway]
    kind = payment.customer.storefront.kind
    if kind == Storefront.Kind.APP_STORE:
        return APP_STORE_KINDS[PaymentMethod.Kind.APP_STORE]
    if kind == Storefront.Kind.GOOGLE_PLAY:
        return APP_STORE_KINDS[PaymentMethod.Kind.GOOGLE_PLAY]
    return None


def _in_reporting(amount: int, currency: str) -> int | None:
    try:
        return to_reporting(amount, currency)
    except UnknownCurrency:
        return None


def refund_refusal(payment: Payment, amount: int | None = None, *, held: int = 0) -> Verdict | None:
    """The reasons a refund cannot be made at all (None when it can). `held`: part of the pending amount that
    belongs to this very request (an approval re-checking its own reservation)."""
    channel = refund_channel(payment)
    if channel is not None:
        return Verdict(REFUSED, f"This payment was made through {channel.replace('the ', '')}: refund this in "
                                f"{channel}.", "channel")
    if payment.disputed:
        return Verdict(REFUSED, f"Payment {payment.public_id} is disputed: refunds are blocked while the card "
                                f"network decides. Respond to the dispute at the gateway.", "disputed")
    if payment.status not in Payment.CAPTURED_STATUSES:
        return Verdict(REFUSED, f"Payment {payment.public_id} is {payment.get_status_display().lower()}: only "
                                f"captured payments can be refunded.", "not_captured")
    left = payment.refundable_amount() + held
    if left <= 0:
        pending = " (the rest is pending or awaiting approval)" if payment.amount_refund_pending else ""
        return Verdict(REFUSED, f"Nothing is left to refund on {payment.public_id}{pending}.", "nothing_left")
    if amount is not None and amount > left:
        return Verdict(REFUSED, f"Only {format_money(left, payment.currency)} can still be refunded on "
                                f"{payment.public_id}.", "amount")
    if amount is not None and amount <= 0:
        return Verdict(REFUSED, "Enter an amount above zero.", "amount")
    return None


def refund_verdict(*, payment: Payment, actor, amount: int | None = None, now=None) -> Verdict:
    """Can `actor` refund `amount` (None: any amount, for the button) of `payment` now, and how?"""
    if not has_capability(actor, Cap.REFUND_PAYMENTS):
        return Verdict(REFUSED, "Your role does not allow refunds.", "role")
    refusal = refund_refusal(payment, amount)
    if refusal is not None:
        return refusal
    rules = payment_rules()
    reasons, codes = [], []
    days, source = refund_window(payment, rules)
    age = ((now or timezone.now()) - payment.created_at).days
    if age > days:
        reasons.append(f"it was paid {age} days ago, outside the {days}-day refund window ({source})")
        codes.append("window")
    limit = refund_limit(actor, rules)
    in_reporting = _in_reporting(amount, payment.currency) if amount is not None else None
    if amount is not None and (in_reporting is None or in_reporting > limit):
        reasons.append(f"{format_money(amount, payment.currency)} is over your refund limit of "
                       f"{format_money(limit, reporting_currency())}")
        codes.append("limit")
    if reasons:
        return Verdict(NEEDS_APPROVAL, f"A manager must approve this refund: {' and '.join(reasons)}.",
                       "+".join(codes))
    return Verdict(ALLOWED, "")


def credit_verdict(*, actor, amount: int, currency: str) -> Verdict:
    """Can `actor` grant `amount` of credit now, or does it need approval?"""
    if not has_capability(actor, Cap.ISSUE_CREDIT):
        return Verdict(REFUSED, "Your role does not allow adding credit.", "role")
    rules = payment_rules()
    limit = credit_limit(actor, rules)
    in_reporting = _in_reporting(amount, currency)
    if in_reporting is None or in_reporting > limit:
        return Verdict(NEEDS_APPROVAL, f"A manager must approve this credit: {format_money(amount, currency)} is "
                                       f"over your credit limit of {format_money(limit, reporting_currency())}.",
                       "limit")
    return Verdict(ALLOWED, "")
