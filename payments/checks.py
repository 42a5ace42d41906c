"""Start-up rules for the payment gateway: a known gateway, and Stripe only with its keys.

They run with `manage.py check` and every command that runs checks, in every environment: a portal told to use
Stripe without a secret key could not charge anyone, and without the webhook secret it would refuse every event.
"""

from django.conf import settings
from django.core import checks

from payments.gateways import GATEWAY_NAMES


@checks.register(checks.Tags.compatibility)
def payment_gateway_configured(app_configs=None, **kwargs):
    name = settings.PAYMENT_GATEWAY
    if name not in GATEWAY_NAMES:
        return [checks.Error(f"PAYMENT_GATEWAY is {name!r}.", id="payments.E001",
                             hint=f"Set it to one of: {', '.join(GATEWAY_NAMES)}.")]
    errors = []
    if name == "stripe":
        if not settings.STRIPE_SECRET_KEY:
            errors.append(checks.Error("PAYMENT_GATEWAY is stripe but STRIPE_SECRET_KEY is not set.",
                                       id="payments.E002", hint="Set STRIPE_SECRET_KEY (sk_live_… or sk_test_…)."))
        if not settings.STRIPE_WEBHOOK_SECRET:
            errors.append(checks.Error("PAYMENT_GATEWAY is stripe but STRIPE_WEBHOOK_SECRET is not set.",
                                       id="payments.E003",
                                       hint="Set STRIPE_WEBHOOK_SECRET (whsec_…, from the webhook endpoint's page)."))
    return errors
