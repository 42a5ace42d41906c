"""Start-up checks for the payment gateway (payments/checks.py)."""

from payments.checks import payment_gateway_configured


def test_the_sandbox_needs_nothing(settings):
    settings.PAYMENT_GATEWAY = "sandbox"
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = ""
    assert payment_gateway_configured() == []


def test_stripe_needs_its_secret_key_and_webhook_secret(settings):
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = ""
    assert [error.id for error in payment_gateway_configured()] == ["payments.E002", "payments.E003"]
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    assert [error.id for error in payment_gateway_configured()] == ["payments.E003"]
    settings.STRIPE_WEBHOOK_SECRET = "whsec_x"
    assert payment_gateway_configured() == []


def test_an_unknown_gateway_is_an_error(settings):
    settings.PAYMENT_GATEWAY = "paypal"
    assert [error.id for error in payment_gateway_configured()] == ["payments.E001"]
