"""The payment gateways: `get_gateway()` answers the one the portal is configured for (settings.PAYMENT_GATEWAY).

- `sandbox` (payments/gateways/sandbox.py): embedded, deterministic test cards and test switches, its books in
  the portal's own database. The default, so `make run` charges nobody.
- `stripe` (payments/gateways/stripe_gateway.py): the official `stripe` library; STRIPE_API_BASE points it at a
  Stripe-compatible server (localstripe) in tests and demos.

A payment or method remembers the gateway that made it (`Payment.gateway`), so work on an existing row asks
`get_gateway(row.gateway)`, not the current default.
"""

from __future__ import annotations

from django.conf import settings

from payments.gateways.base import Gateway

GATEWAY_NAMES = ("sandbox", "stripe")


def get_gateway(name: str | None = None) -> Gateway:
    """The gateway called `name` (default: settings.PAYMENT_GATEWAY). Cheap: the sandbox is one shared object, the
    Stripe adapter is shared while its settings stay the same."""
    name = name or settings.PAYMENT_GATEWAY
    if name == "sandbox":
        from payments.gateways.sandbox import sandbox

        return sandbox
    if name == "stripe":
        from payments.gateways.stripe_gateway import stripe_gateway

        return stripe_gateway()
    raise ValueError(f"Unknown payment gateway {name!r}; expected one of {', '.join(GATEWAY_NAMES)}.")
