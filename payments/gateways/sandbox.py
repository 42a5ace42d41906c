"""The sandbox gateway: the embedded default. Deterministic test cards in the spirit of Stripe's, and test switches.

It plays the payment provider, with its own books in `SandboxOperation` (what it charged, refunded and stored), so
that "did this happen?" has a true answer after a timeout. Each call writes its operation in its own short
transaction; callers call it with no transaction open and no row lock held, like any network gateway.

Which card does what (TEST_CARDS below; a charge behaves as the card its method holds):

- A method stored here by `setup_finish` (`pm_sbx_…`) holds the card number submitted on the card page.
- Stripe-like named methods (NAMED_METHODS: `pm_card_visa`, `pm_card_chargeDeclined`,
  `pm_card_chargeDeclinedInsufficientFunds`, `pm_card_authenticationRequired`, …) stand for their test card.
- Any other method ref (the demo data's `pm_…`, methods saved before the sandbox kept books) behaves as 4242:
  it succeeds.
- A card number that is not in the table (any other valid number) also behaves as 4242.

Idempotency: every charge and refund carries the portal's key; the same key answers the same operation's answer
and never charges or refunds twice (a unique key in the books; two calls racing with one key both answer the one
that was recorded). The same key sent with another amount or operation is refused (`idempotency_error`).

Refunds are refused when the charge's refunds would pass its amount, when the charge has not succeeded, or when
the ref names a sandbox charge (`ch_sbx_…`) its books do not hold. A charge ref the sandbox never issued (the demo
data's `ch_…`) predates its books: the refund is accepted, and only the portal's own ledger limits it.

Test switches (Kill Bill style): `arm_fault("timeout", operation="refund")` or
`manage.py sandbox_fault timeout --operation refund` makes the next matching call misbehave, once:

- decline: the call is refused (card_declined, a soft decline), and the refusal is recorded;
- error: the gateway fails before doing anything (gateway_error); nothing is recorded;
- timeout: the answer is lost before anything was done (outcome unknown); nothing is recorded;
- succeed_then_timeout: the call is carried out and recorded as usual (with a usual card: succeeded), then the
  answer is lost (outcome unknown, no ref); `charge_status` / `refund_status` with the key, or `setup_finish`
  again with the same session, find what happened.

A call that replays a key already in the books answers from them and leaves the switches armed. Setup switches
apply to `setup_finish` (where the card is stored); `setup_start` stores nothing and never fails.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from payments.gateways.base import ChargeResult, RefundResult, SavedMethod, SetupResult, SetupSession
from payments.models import SandboxFault, SandboxOperation


@dataclass(frozen=True)
class TestCard:
    brand: str
    behaviour: Literal["succeed", "decline", "pending", "authenticate"]
    note: str  # what the card does, for people (the card page lists it)
    failure_code: str = ""
    hard: bool = False  # a decline that retrying the same card cannot cure


TEST_CARDS: dict[str, TestCard] = {
    "4242424242424242": TestCard("visa", "succeed", "Succeeds."),
    "5555555555554444": TestCard("mastercard", "succeed", "Succeeds (Mastercard)."),
    "378282246310005": TestCard("amex", "succeed", "Succeeds (American Express)."),
    "4000000000000002": TestCard("visa", "decline", "Declined: card_declined, a hard decline (needs a new card).",
                                 "card_declined", hard=True),
    "4000000000000341": TestCard("visa", "decline", "Saved without trouble, then declined at every charge "
                                 "(card_declined, hard).", "card_declined", hard=True),
    "4000000000009995": TestCard("visa", "decline", "Declined: insufficient_funds, a soft decline (retry later).",
                                 "insufficient_funds"),
    "4000000000000077": TestCard("visa", "pending", "Pending, then succeeds after SANDBOX_SETTLE_SECONDS."),
    "4000002500003155": TestCard("visa", "authenticate", "Needs the customer to authenticate: an off-session charge "
                                 "fails (authentication_required, hard).", "authentication_required", hard=True),
    "4000000000000259": TestCard("visa", "succeed", "Succeeds; tests open a dispute on it."),
}
DEFAULT_CARD = "4242424242424242"

NAMED_METHODS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_pending": "4000000000000077",
    "pm_card_authenticationRequired": "4000002500003155",
    "pm_card_createDispute": "4000000000000259",
}

FAILURE_MESSAGES = {
    "card_declined": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "authentication_required": "The card's bank asks the customer to authenticate this payment; they need to pay "
                               "or confirm the card themselves.",
    "gateway_error": "The payment gateway had an internal error; nothing was charged.",
}

# Refs the sandbox issues: an unknown ref with one of these prefixes is not "older than the books", it is wrong.
CHARGE_PREFIX, REFUND_PREFIX, METHOD_PREFIX = "ch_sbx_", "re_sbx_", "pm_sbx_"
SESSION_PREFIX, CUSTOMER_PREFIX = "seti_sbx_", "cus_sbx_"

OPERATIONS = ("charge", "refund", "setup")
Kind = SandboxOperation.Kind
Fault = SandboxFault.Fault


# ---- Cards -----------------------------------------------------------------------------------------------------

def _brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if "51" <= number[:2] <= "55" or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    return "card"


def _luhn_ok(number: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


@dataclass(frozen=True)
class _Card:
    """A card as the sandbox's books hold it: a test card's number, or brand and last four of any other number
    (the sandbox never keeps a number it has no use for), with the expiry when it was submitted."""

    number: str = ""  # only for the numbers in TEST_CARDS
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None

    @property
    def test_card(self) -> TestCard:
        return TEST_CARDS.get(self.number) or TEST_CARDS[DEFAULT_CARD]

    def token(self) -> str:
        card = self.number or f"{self.brand}*{self.last4}"
        return f"{card} {self.exp_month:02d}/{self.exp_year}" if self.exp_month and self.exp_year else card

    @classmethod
    def from_token(cls, token: str) -> _Card:
        card, _, expiry = token.partition(" ")
        month, _, year = expiry.partition("/")
        exp = {"exp_month": int(month), "exp_year": int(year)} if month.isdigit() and year.isdigit() else {}
        if "*" in card:
            brand, _, last4 = card.partition("*")
            return cls(brand=brand, last4=last4, **exp)
        return cls(number=card, brand=TEST_CARDS[card].brand if card in TEST_CARDS else _brand(card),
                   last4=card[-4:], **exp)

    @classmethod
    def from_number(cls, number: str, exp_month: int, exp_year: int) -> _Card:
        kept = number if number in TEST_CARDS else ""
        brand = TEST_CARDS[number].brand if number in TEST_CARDS else _brand(number)
        return cls(number=kept, brand=brand, last4=number[-4:], exp_month=exp_month, exp_year=exp_year)


def _card_of_method(method_ref: str) -> _Card:
    if method_ref in NAMED_METHODS:
        return _Card.from_token(NAMED_METHODS[method_ref])
    stored = SandboxOperation.objects.filter(kind=Kind.SETUP, ref=method_ref, status="succeeded").first()
    if stored is not None:
        return _Card.from_token(stored.card)
    return _Card.from_token(DEFAULT_CARD)  # never stored here: predates the sandbox's books


class _Invalid(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _submitted_card(submitted: dict[str, str]) -> _Card:
    number = "".join(str(submitted.get("card_number") or "").split()).replace("-", "")
    if not number.isdigit() or not 12 <= len(number) <= 19 or not _luhn_ok(number):
        raise _Invalid("invalid_number", "The card number is not valid.")
    month, year = str(submitted.get("exp_month") or "").strip(), str(submitted.get("exp_year") or "").strip()
    if not (month.isdigit() and year.isdigit() and 1 <= int(month) <= 12 and len(year) in (2, 4)):
        raise _Invalid("invalid_expiry", "The expiry date is not valid.")
    exp_month, exp_year = int(month), int(year) + (2000 if len(year) == 2 else 0)
    today = timezone.localdate()
    if (exp_year, exp_month) < (today.year, today.month):
        raise _Invalid("expired_card", "The card has expired.")
    cvc = str(submitted.get("cvc") or "").strip()
    if not cvc.isdigit() or len(cvc) not in (3, 4):
        raise _Invalid("invalid_cvc", "The security code (CVC) is not valid.")
    return _Card.from_number(number, exp_month, exp_year)


# ---- Test switches -----------------------------------------------------------------------------------------------

def arm_fault(fault: str, operation: str = "") -> SandboxFault:
    """Arm a test switch: the next sandbox call of `operation` ("charge", "refund", "setup"; "" = any) misbehaves
    once, as `fault` says (decline, error, timeout, succeed_then_timeout)."""
    if fault not in Fault.values:
        raise ValueError(f"Unknown fault {fault!r}; expected one of {', '.join(Fault.values)}.")
    if operation not in ("", *OPERATIONS):
        raise ValueError(f"Unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)}.")
    with transaction.atomic():
        return SandboxFault.objects.create(fault=fault, operation=operation, created_at=timezone.now())


def disarm_faults() -> int:
    """Disarm every switch not used yet; answers how many there were."""
    with transaction.atomic():
        return SandboxFault.objects.filter(used_at__isnull=True).delete()[0]


def _fault_take(operation: str) -> str:
    """Use the oldest armed switch for `operation` (or for any), if there is one: each is used once, by whichever
    process gets to it first (a switch another call holds is skipped, not waited for)."""
    with transaction.atomic():
        fault = (SandboxFault.objects.select_for_update(skip_locked=True, no_key=True)
                 .filter(Q(operation=operation) | Q(operation=""), used_at__isnull=True)
                 .order_by("created_at", "id").first())
        if fault is None:
            return ""
        fault.used_at = timezone.now()
        fault.save(update_fields=["used_at"])
        return fault.fault


# ---- The books ---------------------------------------------------------------------------------------------------

def _new_ref(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _by_key(key: str) -> SandboxOperation | None:
    return SandboxOperation.objects.filter(idempotency_key=key).first()


def _record(**fields) -> SandboxOperation:
    """Write an operation, or answer the one another call already wrote under the same key."""
    try:
        with transaction.atomic():
            return SandboxOperation.objects.create(created_at=timezone.now(), **fields)
    except IntegrityError:
        existing = _by_key(fields["idempotency_key"])
        if existing is None:
            raise
        return existing


def _settled_status(op: SandboxOperation) -> str:
    """A pending charge whose time has come has succeeded (and the books say so from then on)."""
    if op.status == "pending" and op.settles_at is not None and op.settles_at <= timezone.now():
        with transaction.atomic():
            SandboxOperation.objects.filter(pk=op.pk, status="pending").update(status="succeeded")
        op.status = "succeeded"
    return op.status


def _failure_message(code: str) -> str:
    return FAILURE_MESSAGES.get(code, "The payment gateway refused this.")


def _charge_answer(op: SandboxOperation) -> ChargeResult:
    status = _settled_status(op)
    if status in ("succeeded", "pending"):
        return ChargeResult(status, ref=op.ref)
    card = _Card.from_token(op.card).test_card
    hard = card.behaviour in ("decline", "authenticate") and card.hard and card.failure_code == op.failure_code
    return ChargeResult("failed", ref=op.ref, failure_code=op.failure_code,
                        failure_message=_failure_message(op.failure_code), hard_decline=hard)


def _refund_answer(op: SandboxOperation) -> RefundResult:
    if op.status == "failed":
        return RefundResult("failed", ref=op.ref, failure_code=op.failure_code,
                            failure_message="The card's bank refused the refund; nothing was refunded.")
    return RefundResult(op.status, ref=op.ref)


def _saved_method(op: SandboxOperation, customer_ref: str) -> SavedMethod:
    card = _Card.from_token(op.card)
    return SavedMethod(ref=op.ref, customer_ref=customer_ref, brand=card.brand, last4=card.last4,
                       exp_month=card.exp_month, exp_year=card.exp_year)


def _key_reused(op: SandboxOperation, kind: str, amount: int, currency: str, parent_ref: str = "") -> bool:
    return (op.kind != kind or op.amount != amount or op.currency != currency.upper()
            or (kind == Kind.REFUND and op.parent_ref != parent_ref))


KEY_REUSED = ("idempotency_error", "This idempotency key was already used for a different request; nothing was done.")


# ---- The gateway -------------------------------------------------------------------------------------------------

class SandboxGateway:
    name = "sandbox"

    def charge(self, *, amount: int, currency: str, customer_ref: str, method_ref: str, key: str,
               metadata: dict[str, str]) -> ChargeResult:
        if not key:
            raise ValueError("A charge needs an idempotency key.")
        done = _by_key(key)
        if done is not None:
            if _key_reused(done, Kind.CHARGE, amount, currency):
                return ChargeResult("failed", failure_code=KEY_REUSED[0], failure_message=KEY_REUSED[1])
            return _charge_answer(done)
        if amount <= 0:
            return ChargeResult("failed", failure_code="invalid_amount", hard_decline=True,
                                failure_message="A charge must be for more than zero.")
        fault = _fault_take(Kind.CHARGE)
        if fault == Fault.ERROR:
            return ChargeResult("failed", failure_code="gateway_error",
                                failure_message=FAILURE_MESSAGES["gateway_error"])
        if fault == Fault.TIMEOUT:
            return ChargeResult("unknown", failure_code="timeout",
                                failure_message="The payment gateway did not answer in time.")
        card = _card_of_method(method_ref)
        behaviour = card.test_card.behaviour
        status, failure_code, settles_at = "succeeded", "", None
        if fault == Fault.DECLINE:
            status, failure_code = "failed", "card_declined"
        elif behaviour in ("decline", "authenticate"):
            status, failure_code = "failed", card.test_card.failure_code
        elif behaviour == "pending":
            status, settles_at = "pending", timezone.now() + timedelta(seconds=settings.SANDBOX_SETTLE_SECONDS)
        op = _record(ref=_new_ref(CHARGE_PREFIX), kind=Kind.CHARGE, idempotency_key=key, status=status,
                     amount=amount, currency=currency.upper(), card=card.token(), failure_code=failure_code,
                     settles_at=settles_at)
        if fault == Fault.SUCCEED_THEN_TIMEOUT:
            return ChargeResult("unknown", failure_code="timeout",
                                failure_message="The payment gateway did not answer in time.")
        return _charge_answer(op)

    def charge_status(self, *, ref: str, key: str) -> ChargeResult:
        """By ref when known, else by key. A key the books do not hold was never charged (the sandbox writes the
        charge before it answers). A ref the sandbox never issued (the demo data's `ch_…`) predates its books:
        it answers succeeded, as a charge on such a method would have."""
        op = (SandboxOperation.objects.filter(kind=Kind.CHARGE, ref=ref).first() if ref
              else SandboxOperation.objects.filter(kind=Kind.CHARGE, idempotency_key=key).first() if key else None)
        if op is not None:
            return _charge_answer(op)
        if ref and not ref.startswith(CHARGE_PREFIX):
            return ChargeResult("succeeded", ref=ref)
        return ChargeResult("failed", ref=ref, failure_code="not_found",
                            failure_message="The payment gateway has no such charge; nothing was charged.")

    def refund(self, *, charge_ref: str, amount: int, currency: str, key: str,
               metadata: dict[str, str]) -> RefundResult:
        if not key:
            raise ValueError("A refund needs an idempotency key.")
        done = _by_key(key)
        if done is not None:
            if _key_reused(done, Kind.REFUND, amount, currency, charge_ref):
                return RefundResult("failed", failure_code=KEY_REUSED[0], failure_message=KEY_REUSED[1])
            return _refund_answer(done)
        fault = _fault_take(Kind.REFUND)
        if fault == Fault.ERROR:
            return RefundResult("failed", failure_code="gateway_error",
                                failure_message="The payment gateway had an internal error; nothing was refunded.")
        if fault == Fault.TIMEOUT:
            return RefundResult("unknown", failure_code="timeout",
                                failure_message="The payment gateway did not answer in time.")
        with transaction.atomic():
            refused = self._refund_refusal(charge_ref=charge_ref, amount=amount, currency=currency, key=key)
            if isinstance(refused, SandboxOperation):  # recorded meanwhile by a call with the same key
                return _refund_answer(refused)
            if refused is not None:
                return refused
            op = _record(ref=_new_ref(REFUND_PREFIX), kind=Kind.REFUND, idempotency_key=key, amount=amount,
                         currency=currency.upper(), parent_ref=charge_ref,
                         status="failed" if fault == Fault.DECLINE else "succeeded",
                         failure_code="card_declined" if fault == Fault.DECLINE else "")
        if fault == Fault.SUCCEED_THEN_TIMEOUT:
            return RefundResult("unknown", failure_code="timeout",
                                failure_message="The payment gateway did not answer in time.")
        return _refund_answer(op)

    @staticmethod
    def _refund_refusal(*, charge_ref: str, amount: int, currency: str, key: str):
        """Inside the refund's transaction, with the charge locked: why this refund cannot be made (a failed
        result), the operation another call recorded with this key meanwhile, or None to go ahead."""
        charge = (SandboxOperation.objects.select_for_update(no_key=True)
                  .filter(kind=Kind.CHARGE, ref=charge_ref).first() if charge_ref else None)
        done = _by_key(key)
        if done is not None:
            return done
        if amount <= 0:
            return RefundResult("failed", failure_code="invalid_amount",
                                failure_message="A refund must be for more than zero.")
        if charge is None:
            if not charge_ref or charge_ref.startswith(CHARGE_PREFIX):
                return RefundResult("failed", failure_code="charge_not_found",
                                    failure_message="The payment gateway has no such charge; nothing was refunded.")
            return None  # a charge older than the sandbox's books
        if _settled_status(charge) != "succeeded":
            return RefundResult("failed", failure_code="charge_not_refundable",
                                failure_message="Only a charge that succeeded can be refunded.")
        if charge.currency != currency.upper():
            return RefundResult("failed", failure_code="currency_mismatch",
                                failure_message=f"The charge was made in {charge.currency}.")
        refunded = (SandboxOperation.objects.filter(kind=Kind.REFUND, parent_ref=charge_ref)
                    .exclude(status="failed").aggregate(total=Sum("amount"))["total"] or 0)
        if refunded + amount > charge.amount:
            return RefundResult("failed", failure_code="amount_too_large",
                                failure_message=f"Only {charge.amount - refunded} (minor units) of this charge can "
                                                "still be refunded; nothing was refunded.")
        return None

    def refund_status(self, *, ref: str, charge_ref: str, key: str) -> RefundResult:
        """By ref when known, else by key. A key the books do not hold was never refunded. A ref the sandbox never
        issued predates its books and answers succeeded."""
        op = (SandboxOperation.objects.filter(kind=Kind.REFUND, ref=ref).first() if ref
              else SandboxOperation.objects.filter(kind=Kind.REFUND, idempotency_key=key).first() if key else None)
        if op is not None:
            return _refund_answer(op)
        if ref and not ref.startswith(REFUND_PREFIX):
            return RefundResult("succeeded", ref=ref)
        return RefundResult("failed", ref=ref, failure_code="not_found",
                            failure_message="The payment gateway has no such refund; nothing was refunded.")

    def setup_start(self, *, customer_ref: str, key: str) -> SetupSession:
        """Stores nothing: the session and (when none is given) the customer are named after the key, so the same
        key starts the same session. The page's `extra` lists the test cards."""
        if not key:
            raise ValueError("A card setup needs an idempotency key.")
        digest = hashlib.sha256(key.encode()).hexdigest()
        return SetupSession(
            ref=SESSION_PREFIX + digest[:24], customer_ref=customer_ref or CUSTOMER_PREFIX + digest[24:48],
            extra={"test_cards": [{"number": number, "note": card.note} for number, card in TEST_CARDS.items()]},
        )

    def setup_finish(self, *, session_ref: str, customer_ref: str, submitted: dict[str, str]) -> SetupResult:
        """`submitted`: card_number, exp_month, exp_year, cvc. Once a session has stored a card, finishing it again
        answers that card (whatever is submitted)."""
        key = f"setup:{session_ref}"
        done = SandboxOperation.objects.filter(idempotency_key=key, kind=Kind.SETUP).first()
        if done is not None:
            return SetupResult("succeeded", method=_saved_method(done, customer_ref))
        if not session_ref.startswith(SESSION_PREFIX):
            return SetupResult("failed", failure_code="unknown_session",
                               failure_message="This card form has expired; open the link again.")
        fault = _fault_take(Kind.SETUP)
        if fault == Fault.ERROR:
            return SetupResult("failed", failure_code="gateway_error",
                               failure_message="The payment gateway had an internal error; the card was not saved.")
        if fault == Fault.TIMEOUT:
            return SetupResult("unknown", failure_code="timeout",
                               failure_message="The payment gateway did not answer in time.")
        try:
            card = _submitted_card(submitted)
        except _Invalid as invalid:
            return SetupResult("failed", failure_code=invalid.code, failure_message=invalid.message)
        if fault == Fault.DECLINE:
            return SetupResult("failed", failure_code="card_declined", failure_message="The card was declined.")
        op = _record(ref=_new_ref(METHOD_PREFIX), kind=Kind.SETUP, idempotency_key=key, status="succeeded",
                     card=card.token(), parent_ref=session_ref)
        if fault == Fault.SUCCEED_THEN_TIMEOUT:
            return SetupResult("unknown", failure_code="timeout",
                               failure_message="The payment gateway did not answer in time.")
        return SetupResult("succeeded", method=_saved_method(op, customer_ref))


sandbox = SandboxGateway()
