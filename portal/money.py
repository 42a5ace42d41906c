"""Money is integer minor units + ISO currency everywhere; this converts only for display."""

from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision


def minor_to_decimal(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-get_currency_precision(currency))


@lru_cache(maxsize=8192)  # babel re-parses the pattern each call; prices repeat, so pages mostly hit the cache
def format_money(amount: int, currency: str, locale: str = "en_US") -> str:
    return format_currency(minor_to_decimal(amount, currency), currency, locale=locale)
