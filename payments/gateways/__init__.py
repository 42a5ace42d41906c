"""Payment gateways: `get_gateway()` gives the configured one (settings.PAYMENT_GATEWAY)."""

from __future__ import annotations


def get_gateway(name: str | None = None):
    from django.conf import settings

    from payments.gateways import sandbox

    name = name or getattr(settings, "PAYMENT_GATEWAY", "sandbox")
    if name != "sandbox":
        raise ValueError(f"No gateway adapter named {name!r}.")
    return sandbox.GATEWAY
