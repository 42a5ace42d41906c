"""Public identifiers: a type prefix and 16 random base-32 characters (cus_8k2m…). Never the integer key."""

import secrets

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base 32, lower case: no i, l, o, u
PREFIXES = {"customer": "cus_", "subscription": "sub_", "payment": "pay_", "invoice": "inv_", "refund": "re_",
            "ticket": "tkt_", "email": "eml_", "escalation": "esc_",
            "approval": "apr_", "card_link": "pml_"}
BODY_LENGTH = 16


def new_public_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))


# Named functions (not lambdas) so migrations can refer to them as field defaults.
def new_customer_id() -> str:
    return new_public_id("cus_")


def new_subscription_id() -> str:
    return new_public_id("sub_")


def new_payment_id() -> str:
    return new_public_id("pay_")


def new_invoice_id() -> str:
    return new_public_id("inv_")


def new_refund_id() -> str:
    return new_public_id("re_")


def new_ticket_id() -> str:
    return new_public_id("tkt_")


def new_email_id() -> str:
    return new_public_id("eml_")


def new_escalation_id() -> str:
    return new_public_id("esc_")


def new_approval_id() -> str:
    return new_public_id("apr_")


def new_card_link_id() -> str:
    return new_public_id("pml_")
