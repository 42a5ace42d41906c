"""Money is integer minor units + ISO currency everywhere; this converts only for display."""

from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision


def minor_to_decimal(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-get_currency_precision(currency))


def format_money(amount: int, currency: str, locale: str = "en_US") -> str:
    return format_currency(minor_to_decimal(amount, currency), currency, locale=locale)
