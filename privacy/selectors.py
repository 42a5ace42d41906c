"""Reads about consent: the latest record per customer, purpose and channel decides."""

from __future__ import annotations

from privacy.models import Consent


def has_consent(customer, *, purpose: str, channel: str) -> bool:
    """Whether the customer's latest consent record for this purpose and channel grants it (no record: no).

    One index lookup on (customer, purpose, channel, -recorded_at)."""
    latest = (Consent.objects.filter(customer=customer, purpose=purpose, channel=channel)
              .order_by("-recorded_at", "-id").values_list("granted", flat=True).first())
    return bool(latest)


def has_email_marketing_consent(customer) -> bool:
    return has_consent(customer, purpose=Consent.Purpose.MARKETING, channel=Consent.Channel.EMAIL)
