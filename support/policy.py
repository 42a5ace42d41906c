"""Who may be emailed what: the rules the send service applies and the send dialog explains.

Each rule answers with a sentence (refused) or None (allowed). Transactional mail (card updates, dunning, ticket
replies) ignores marketing consent; a template marked `marketing` needs the customer's latest email-marketing
consent to be a grant. Nobody whose personal data was erased is emailed.
"""

from __future__ import annotations

from customers.models import Customer

ERASED = "This customer's personal data has been erased, so they cannot be emailed."
INACTIVE = "This template is switched off; an admin can turn it back on."
NO_MARKETING_CONSENT = "It is a marketing email and this customer has not agreed to marketing by email."


def email_refusal(template, customer: Customer, *, marketing_consent: bool) -> str | None:
    """Why `template` cannot be sent to `customer` now (None: it can). `marketing_consent` is the customer's
    current email-marketing consent (privacy.selectors.has_email_marketing_consent)."""
    if customer.status == Customer.Status.ERASED:
        return ERASED
    if not template.active:
        return INACTIVE
    if template.marketing and not marketing_consent:
        return NO_MARKETING_CONSENT
    return None
