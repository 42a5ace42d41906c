"""The payment gateway contract: what the portal asks of a payment provider, and the answers it understands.

Every mutating call carries an idempotency key chosen by the portal and stored on its own row before the call, so a
retry of the same operation sends the same key. Calls are made with no database transaction open and no row lock
held (payments/flows.py records the intent, commits, calls, then records the outcome).

An answer is one of: done (`succeeded`), still settling (`pending`), refused (`failed`, with a decline code and
whether it is hard), or not known (`unknown`: a timeout or an unclear answer; reconciliation asks again with
`charge_status` / `refund_status`, never guesses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Outcome = Literal["succeeded", "pending", "failed", "unknown"]


@dataclass(frozen=True)
class ChargeResult:
    outcome: Outcome
    ref: str = ""  # the gateway's id of the charge (PaymentIntent id with Stripe); may be known even when unknown
    failure_code: str = ""  # card_declined, insufficient_funds, authentication_required, gateway_error, timeout…
    failure_message: str = ""  # a sentence for the agent
    hard_decline: bool = False  # True: retrying the same method is pointless until it changes


@dataclass(frozen=True)
class RefundResult:
    outcome: Outcome
    ref: str = ""
    failure_code: str = ""
    failure_message: str = ""


@dataclass(frozen=True)
class SavedMethod:
    """A payment method the gateway stored for the customer (only what the portal may keep: no card number)."""

    ref: str
    customer_ref: str = ""  # the customer at the gateway who owns it
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True)
class SetupSession:
    """What the customer-facing card page needs to collect a card: `ref` (SetupIntent id with Stripe) and the
    client-side secret, plus anything the page template needs (`extra`: publishable key, JS URL…)."""

    ref: str
    customer_ref: str = ""  # created by setup_start when the customer had none at the gateway
    client_secret: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SetupResult:
    outcome: Literal["succeeded", "failed", "unknown"]
    method: SavedMethod | None = None
    failure_code: str = ""
    failure_message: str = ""


class GatewayUnavailable(Exception):
    """The gateway could not be reached before anything was done (safe to retry with the same key)."""


class Gateway(Protocol):
    name: str  # stored on PaymentMethod/Payment.gateway: "sandbox" or "stripe"

    def charge(self, *, amount: int, currency: str, customer_ref: str, method_ref: str, key: str,
               metadata: dict[str, str]) -> ChargeResult:
        """Charge a saved method off-session. Never raises for a decline or a timeout: answers with a result."""

    def charge_status(self, *, ref: str, key: str) -> ChargeResult:
        """What became of an earlier charge (by its ref when known, else by the key it was sent with)."""

    def refund(self, *, charge_ref: str, amount: int, currency: str, key: str,
               metadata: dict[str, str]) -> RefundResult:
        """Refund part or all of a captured charge, to the method it was paid with."""

    def refund_status(self, *, ref: str, charge_ref: str, key: str) -> RefundResult:
        """What became of an earlier refund (by its ref when known, else found by key/metadata on the charge)."""

    def setup_start(self, *, customer_ref: str, key: str) -> SetupSession:
        """Begin collecting a new card (a SetupIntent with Stripe). An empty `customer_ref` asks the gateway to create
        the customer; the session says which one it is."""

    def setup_finish(self, *, session_ref: str, customer_ref: str, submitted: dict[str, str]) -> SetupResult:
        """Complete the card collection: `submitted` is what the card page posted (the sandbox's card number,
        or Stripe's confirmed SetupIntent/PaymentMethod id). The method is attached to the customer."""
