"""Money is integer minor units + ISO currency everywhere; this module formats it for display and converts it to
the reporting currency.

Reporting conversion (`to_reporting`, and `reporting_sql` for set-based statements) is the one place that turns an
amount in a customer's own currency into the single currency that compares customers: the directory's MRR sort
(the stored `Customer.mrr_reporting`) and the High-Value segment rule use this same conversion, so "biggest" means
the same thing everywhere.

    settings.REPORTING_CURRENCY  "USD" (env REPORTING_CURRENCY)
    settings.EXCHANGE_RATES      {"EUR": Decimal("1.08"), ...}: 1 unit of the currency = rate units of the
                                 reporting currency (env EXCHANGE_RATES="EUR=1.08,GBP=1.27")

Rounding: the exact product amount × rate × 10^(reporting exponent − currency exponent) is computed in Decimal
(rates are parsed from text, never through a float) and rounded once to the nearest minor unit of the reporting
currency, halves away from zero. That is what PostgreSQL's round(numeric) does, so `reporting_sql` gives the same
integer as `to_reporting` for every amount. Converting a sum may therefore differ from summing converted amounts by
at most half a minor unit per addend; store and compare converted values, never re-convert them.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision
from django.conf import settings


def minor_to_decimal(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-get_currency_precision(currency))


class InvalidAmount(ValueError):
    """Text that is not an amount of the currency (the message says why, for the form)."""


def parse_amount(text: str, currency: str) -> int:
    """'12.50' in USD → 1250 minor units. Refuses signs, exponents, separators and more decimals than the currency
    has (a fraction of a minor unit cannot be paid or refunded)."""
    text = (text or "").strip().replace(",", "")
    digits = get_currency_precision(currency)
    if not re.fullmatch(r"\d{1,12}(\.\d+)?", text):
        raise InvalidAmount("Enter an amount like 12.50.")
    whole, _, fraction = text.partition(".")
    if len(fraction) > digits:
        raise InvalidAmount(f"{currency} amounts have at most {digits} decimal place{'s' if digits != 1 else ''}."
                            if digits else f"{currency} amounts have no decimal places.")
    return int(whole) * 10**digits + int(fraction.ljust(digits, "0") or 0)


def decimal_text(amount: int, currency: str) -> str:
    """The inverse of parse_amount, for form fields: 1250 USD → '12.50'."""
    return f"{minor_to_decimal(amount, currency):f}"


@lru_cache(maxsize=8192)  # babel re-parses the pattern each call; prices repeat, so pages mostly hit the cache
def format_money(amount: int, currency: str, locale: str = "en_US") -> str:
    return format_currency(minor_to_decimal(amount, currency), currency, locale=locale)


# ---- Reporting currency ----------------------------------------------------------------------------------------

_CODE = re.compile(r"[A-Z]{3}")

class UnknownCurrency(ValueError):
    """No exchange rate is configured for this currency."""

    def __init__(self, currency: str):
        self.currency = currency
        super().__init__(f"No exchange rate to {reporting_currency()} is configured for {currency}: "
                         f"add it to EXCHANGE_RATES (e.g. \"{currency}=1.00\").")


def reporting_currency() -> str:
    return settings.REPORTING_CURRENCY


def exchange_rates() -> dict[str, Decimal]:
    """Currency → units of the reporting currency per unit, the reporting currency itself included (1)."""
    return {**settings.EXCHANGE_RATES, reporting_currency(): Decimal(1)}


def _minor_unit_factor(currency: str, rates: dict[str, Decimal]) -> Decimal:
    """Reporting minor units per minor unit of `currency`: the rate shifted by the difference of the exponents."""
    try:
        rate = rates[currency]
    except KeyError:
        raise UnknownCurrency(currency) from None
    shift = get_currency_precision(reporting_currency()) - get_currency_precision(currency)
    return rate.scaleb(shift)


def to_reporting(amount: int, currency: str) -> int:
    """`amount` minor units of `currency` in minor units of the reporting currency, rounded as the module says.

    Raises UnknownCurrency when no rate is configured for `currency`.
    """
    factor = _minor_unit_factor(currency, exchange_rates())
    with localcontext() as context:
        context.prec = 60  # exact: a bigint times a rate of a few dozen digits never needs more
        return int((Decimal(amount) * factor).to_integral_value(rounding=ROUND_HALF_UP))


def reporting_sql(amount_sql: str, currency_sql: str) -> str:
    """The same conversion as a SQL expression over columns (e.g. "mrr", "currency"), giving a bigint.

    Rates and codes are written into the statement as literals (codes are checked to be three letters, rates are
    Decimals), so it fits statements of any parameter style (the seeder's named ones, the ORM's positional ones).
    A currency without a configured rate gives NULL; callers look for those first (`currencies_without_rate`).
    """
    rates = exchange_rates()
    whens = []
    for currency in sorted(rates):
        if not _CODE.fullmatch(currency):
            raise ValueError(f"Not a currency code: {currency!r}")
        whens.append(f"WHEN '{currency}' THEN round({amount_sql} * {_minor_unit_factor(currency, rates):f})")
    return f"(CASE {currency_sql} {' '.join(whens)} END)::bigint"


def currencies_without_rate(currencies) -> list[str]:
    rates = exchange_rates()
    return sorted(set(currencies) - set(rates))


def reporting_rates_note() -> str:
    """One sentence for the places that sort or rank by converted amounts (the directory's MRR header)."""
    target = reporting_currency()
    rates = ", ".join(f"1 {currency} = {rate.normalize():f} {target}"
                      for currency, rate in sorted(settings.EXCHANGE_RATES.items()) if currency != target)
    return f"Sorted in {target} at configured rates{': ' + rates if rates else ''}."
