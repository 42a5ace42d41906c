"""Card-update links: an agent emails the customer a signed, single-use, expiring link; the customer opens it (no
portal account, no sign-in) and adds a new card, which becomes their default method and the live subscription's.

The URL is `/pay/card/<token>/`: `token` is the link's public id signed with django.core.signing (salt
SALT). Nothing secret is stored: the signature proves the URL came from us, and the row decides whether it still
works. A token is checked in this order, each refusal logged with `payments.card_link.refused` and its `why`:

    bad signature → "tampered" (404; the token itself is never stored, no customer is known)
    no such link  → "unknown"  (404)
    erased customer → "unavailable" (410)
    expires_at passed (the row's, authoritative) → "expired" (410)
    used_at set   → "used"     (410)
    too many declined cards → "locked" (410)

Completing a link never holds a row lock across the gateway call: a short transaction checks the locked link is
still usable (and writes nothing), the gateway collects the card, then a second transaction locks the customer and
the link (in that order, like every customer write), checks again that the link is unused (a second submit that
raced this one is refused here as "used"), saves the method as the default and marks the link used. Only after
that commit is the outstanding invoice charged (`charge_outstanding_after_update`).

Tokens are unguessable (a signed 16-character random id), so guessing is not a threat worth a throttle; what the
page does limit is the number of declined cards per link (settings.CARD_LINK_MAX_ATTEMPTS), so a link cannot be
used to test a list of stolen card numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta

import structlog
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from customers.models import ActivityEvent, Customer, Storefront
from payments.gateways import get_gateway
from payments.gateways.base import GatewayUnavailable, SavedMethod, SetupSession
from payments.models import Payment, PaymentMethod, PaymentMethodLink
from portal.audit import Timeline, audit_record
from portal.errors import DomainError
from portal.money import format_money
from support.services import email_send

logger = structlog.get_logger(__name__)

SALT = "payments.card_link"
TEMPLATE_CODE = "card_update"  # the EmailTemplate that carries the link (support migration 0006)

# Refusals of the customer page: why → (HTTP status, what the customer reads).
REFUSALS = {
    "tampered": (404, "This link is not valid. Check that you opened the whole link from our email, or ask us for "
                      "a new one."),
    "unknown": (404, "This link is not valid. Ask us for a new one."),
    "unavailable": (410, "This link no longer works."),
    "expired": (410, "This link has expired. Ask us for a new one."),
    "used": (410, "This link has already been used. If you need to change your card again, ask us for a new "
                  "link."),
    "locked": (410, "This link stopped working after too many declined cards. Ask us for a new one."),
}


class CardLinkRefused(Exception):
    """The customer page cannot be used with this token; `why` is the logged reason (a REFUSALS key)."""

    def __init__(self, why: str):
        self.why = why
        self.status, self.message = REFUSALS[why]
        super().__init__(self.message)


# ---- Who can be sent a link ------------------------------------------------------------------------------------

def card_link_refusal(customer: Customer) -> str | None:
    """Why no card-update link can be sent to this customer (None: it can). The profile shows the same sentence on
    the disabled action."""
    if customer.status == Customer.Status.ERASED:
        return "This customer's personal data has been erased, so no card-update link can be sent."
    kind = customer.storefront.kind
    if kind == Storefront.Kind.APP_STORE:
        return "Their card is managed by the App Store; ask them to update it in their Apple ID settings."
    if kind == Storefront.Kind.GOOGLE_PLAY:
        return ("Their card is managed by Google Play; ask them to update it in the payment methods of their Google "
                "account.")
    if not customer.email:
        return "They have no email address to send the link to; add one to their profile first."
    return None


def card_link_token(link: PaymentMethodLink) -> str:
    return signing.dumps(link.public_id, salt=SALT)


def card_link_url(link: PaymentMethodLink) -> str:
    """The absolute URL the email carries (PUBLIC_BASE_URL: where customers reach the portal's public pages)."""
    path = reverse("card_links:page", kwargs={"token": card_link_token(link)})
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def _agent(actor):
    return actor if actor is not None and actor.is_authenticated else None


def _lock_customer(customer_id: int) -> Customer:
    return (Customer.objects.select_for_update(of=("self",), no_key=True).select_related("storefront")
            .get(pk=customer_id))


@transaction.atomic
def card_link_send(*, customer: Customer, actor, request_key: str | None = None) -> PaymentMethodLink:
    """Issue a link and email it (the `card_update` template, transactional: marketing consent does not apply).

    Refused with a sentence for an erased customer, an app-store billed one, or one without an email address.
    `request_key` (the agent's form token or request key) makes a repeated submit return the first link instead
    of sending a second one. The email carries the link; the audit row and the timeline only its public id.
    """
    customer = _lock_customer(customer.pk)
    if request_key:
        existing = PaymentMethodLink.objects.filter(request_key=request_key).select_related("email").first()
        if existing is not None:
            if existing.customer_id != customer.pk:
                raise DomainError("This request was already used for another customer.", code="request_key_reused")
            return existing
    refusal = card_link_refusal(customer)
    if refusal:
        raise DomainError(refusal, code="card_link_refused")
    now = timezone.now()
    link = PaymentMethodLink.objects.create(
        customer=customer, created_by=_agent(actor), created_at=now,
        expires_at=now + timedelta(hours=settings.CARD_LINK_EXPIRY_HOURS), request_key=request_key or None)
    message = email_send(customer=customer, template_code=TEMPLATE_CODE, actor=actor,
                         extra_context={"card_link_url": card_link_url(link),
                                        "card_link_expires_at": link.expires_at})
    link.email = message
    link.save(update_fields=["email"])
    expires = link.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    audit_record(actor=actor, action="payments.card_link.sent", customer=customer, obj=link,
                 data={"link": link.public_id, "email": message.public_id, "expires_at": link.expires_at.isoformat()},
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT, f"Card-update link emailed (expires {expires})",
                                   {"link": link.public_id, "email": message.public_id}))
    return link


# ---- The customer's side ---------------------------------------------------------------------------------------

def _refused(why: str, *, link_id: str = "", customer: Customer | None = None) -> CardLinkRefused:
    """Log a refused use (in a transaction of its own: it stays when the caller's work is undone) and return the
    exception to raise."""
    with transaction.atomic():
        audit_record(actor=None, action="payments.card_link.refused", customer=customer,
                     data={"link": link_id, "why": why})
    logger.info("card_link.refused", link=link_id, why=why)
    return CardLinkRefused(why)


def _unusable(link: PaymentMethodLink, customer: Customer) -> str | None:
    """Why this link cannot be used now (None: it can), in the order the module docstring gives."""
    if customer.status == Customer.Status.ERASED:
        return "unavailable"
    if link.expires_at <= timezone.now():
        return "expired"
    if link.used_at is not None:
        return "used"
    if link.failed_attempts >= settings.CARD_LINK_MAX_ATTEMPTS:
        return "locked"
    return None


def card_link_from_token(token: str) -> PaymentMethodLink:
    """The usable link this token names, its customer joined. Raises CardLinkRefused (logged) otherwise."""
    try:
        public_id = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        raise _refused("tampered")
    if not isinstance(public_id, str):  # signed by us, so never; but a token is input
        raise _refused("tampered")
    link = PaymentMethodLink.objects.select_related("customer").filter(public_id=public_id).first()
    if link is None:
        raise _refused("unknown", link_id=public_id[:24])
    why = _unusable(link, link.customer)
    if why:
        raise _refused(why, link_id=link.public_id, customer=link.customer)
    return link


def _customer_gateway_ref(customer: Customer, gateway: str) -> str:
    """The customer at the gateway, from the newest method saved there (empty: the gateway creates one)."""
    return (PaymentMethod.objects.filter(customer=customer, gateway=gateway).exclude(gateway_customer_ref="")
            .order_by("-created_at", "-id").values_list("gateway_customer_ref", flat=True).first() or "")


def _setup_session(link: PaymentMethodLink) -> SetupSession:
    """Start (or, with the same key, resume) the gateway's card collection for this link and remember its refs.
    Called with no transaction open: the gateway call holds no lock. Raises GatewayUnavailable."""
    gateway = get_gateway()
    customer_ref = link.gateway_customer_ref or _customer_gateway_ref(link.customer, gateway.name)
    session = gateway.setup_start(customer_ref=customer_ref, key=f"{link.public_id}-setup")
    refs = {"gateway_setup_ref": session.ref, "gateway_customer_ref": session.customer_ref or customer_ref}
    if any(getattr(link, name) != value for name, value in refs.items()):
        # One conditional UPDATE (no read-modify-write): a used link keeps the refs it was completed with.
        PaymentMethodLink.objects.filter(pk=link.pk, used_at__isnull=True).update(**refs)
        for name, value in refs.items():
            setattr(link, name, value)
    return session


def card_link_open(*, link: PaymentMethodLink, actor=None) -> SetupSession:
    """The customer opened the page: what the card form needs from the gateway, and an `opened` audit row (no
    timeline event: a page view changes nothing). Raises GatewayUnavailable."""
    session = _setup_session(link)
    with transaction.atomic():
        audit_record(actor=actor, action="payments.card_link.opened", customer=link.customer, obj=link,
                     data={"link": link.public_id})
    return session


def _count_decline(link: PaymentMethodLink, *, code: str, actor) -> None:
    with transaction.atomic():
        _lock_customer(link.customer_id)
        locked = PaymentMethodLink.objects.select_for_update(no_key=True).get(pk=link.pk)
        locked.failed_attempts += 1
        locked.save(update_fields=["failed_attempts"])
        audit_record(actor=actor, action="payments.card_link.declined", customer=locked.customer, obj=locked,
                     data={"link": locked.public_id, "code": code[:40], "attempts": locked.failed_attempts})


@transaction.atomic
def _record_method(link_id: int, customer_id: int, gateway: str, saved: SavedMethod, actor) -> PaymentMethod | str:
    """Save the gateway's method as the default and use the link up: the new method, or why the link can no
    longer be used (nothing written then)."""
    from subscriptions.models import Subscription

    customer = _lock_customer(customer_id)
    link = PaymentMethodLink.objects.select_for_update(no_key=True).get(pk=link_id)
    why = _unusable(link, customer)
    if why:
        return why
    now = timezone.now()
    previous = list(PaymentMethod.objects.select_for_update(no_key=True)
                    .filter(customer=customer, is_default=True).values_list("pk", flat=True))
    PaymentMethod.objects.filter(pk__in=previous).update(is_default=False)  # one_default_method: unset first
    method = PaymentMethod.objects.create(
        customer=customer, kind=PaymentMethod.Kind.CARD, brand=saved.brand[:20], last4=saved.last4[-4:],
        exp_month=saved.exp_month, exp_year=saved.exp_year, is_default=True, gateway=gateway,
        gateway_ref=saved.ref[:64], gateway_customer_ref=(saved.customer_ref or link.gateway_customer_ref)[:64],
        created_at=now)
    live = list(Subscription.objects.select_for_update(no_key=True)
                .filter(customer=customer, status__in=Subscription.LIVE_STATUSES).values_list("pk", flat=True))
    Subscription.objects.filter(pk__in=live).update(payment_method=method)
    link.used_at, link.payment_method = now, method
    link.save(update_fields=["used_at", "payment_method"])
    audit_record(actor=actor, action="payments.card_link.used", customer=customer, obj=link,
                 data={"link": link.public_id, "method": method.pk, "brand": method.brand,
                       "previous_default": previous[0] if previous else None,
                       "subscription": bool(live)},
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT,
                                   f"Added a new card •••• {method.last4} through the emailed link",
                                   {"link": link.public_id}))
    return method


def card_link_complete(*, link: PaymentMethodLink, submitted: dict[str, str], actor=None) -> PaymentMethod:
    """Collect the card the customer submitted and make it their default method (see the module docstring).

    Raises CardLinkRefused (logged) when the link was used, expired or locked meanwhile, and DomainError with the
    gateway's sentence when the card was refused (the link stays usable) or the gateway could not be reached.
    Must be called with no transaction open: the gateway call holds no lock, and each step commits on its own.
    """
    with transaction.atomic():  # 1. still usable? (writes nothing)
        locked = PaymentMethodLink.objects.select_for_update(no_key=True).select_related("customer").get(pk=link.pk)
        why = _unusable(locked, locked.customer)
    if why:
        raise _refused(why, link_id=locked.public_id, customer=locked.customer)
    gateway = get_gateway()
    try:  # 2. the gateway, no lock held
        if not locked.gateway_setup_ref:
            _setup_session(locked)
        result = gateway.setup_finish(session_ref=locked.gateway_setup_ref,
                                      customer_ref=locked.gateway_customer_ref, submitted=submitted)
    except GatewayUnavailable:
        raise DomainError("We could not reach our payment provider, so nothing was saved. Please try again in a "
                          "minute.", code="gateway_unavailable")
    if result.outcome == "failed":
        _count_decline(locked, code=result.failure_code or "declined", actor=actor)
        raise DomainError(result.failure_message or "Your card was declined. Try another card.",
                          code=result.failure_code or "card_declined")
    if result.outcome != "succeeded" or result.method is None:
        raise DomainError("We could not confirm your card with our payment provider. Nothing was charged; please "
                          "try again in a minute.", code="setup_unknown")
    outcome = _record_method(locked.pk, locked.customer_id, gateway.name, result.method, actor)  # 3. record, customer then link
    if isinstance(outcome, str):
        raise _refused(outcome, link_id=locked.public_id, customer=locked.customer)
    return outcome


@dataclass(frozen=True)
class ChargeNotice:
    """What the page tells the customer after their card is saved."""

    payment: Payment | None
    sentence: str
    ok: bool = True


def charge_outstanding_after_update(method: PaymentMethod) -> ChargeNotice:
    """Charge the customer's outstanding invoice with the card just saved (once; after the commit that saved it,
    with no transaction open) and say what happened. A failure here never undoes the saved card."""
    from payments.charges import invoice_charge_outstanding

    saved = f"Thanks, your card ending {method.last4} is saved."
    try:
        payment = invoice_charge_outstanding(customer=method.customer, actor=None)
    except (DomainError, GatewayUnavailable) as exc:
        logger.warning("card_link.charge_not_made", error=type(exc).__name__)
        return ChargeNotice(None, f"{saved} We will charge your outstanding invoice to it shortly.")
    if payment is None:
        return ChargeNotice(None, saved)
    amount = format_money(payment.amount, payment.currency)
    if payment.status == Payment.Status.SUCCEEDED:
        return ChargeNotice(payment, f"{saved} We charged {amount} for your outstanding invoice.")
    if payment.status == Payment.Status.FAILED:
        reason = payment.failure_message or "your bank declined it"
        return ChargeNotice(payment, f"{saved} We tried to charge {amount} for your outstanding invoice, but the "
                                     f"charge was declined: {reason.rstrip('.')}. Please contact us.", ok=False)
    return ChargeNotice(payment, f"{saved} The charge of {amount} for your outstanding invoice is being processed.")
