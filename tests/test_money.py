"""Money display: integer minor units in, the right number of decimals out, for every currency kind."""

from decimal import Decimal
from fractions import Fraction

import pytest
from django.db import connection
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from portal.money import (
    UnknownCurrency,
    currencies_without_rate,
    format_money,
    minor_to_decimal,
    reporting_rates_note,
    reporting_sql,
    to_reporting,
)

amounts = st.integers(min_value=-10**12, max_value=10**12)


@given(amounts)
def test_two_decimal_currencies_divide_by_100_exactly(amount):
    assert minor_to_decimal(amount, "USD") * 100 == amount


@given(amounts)
def test_zero_decimal_currencies_are_not_divided(amount):
    assert minor_to_decimal(amount, "JPY") == Decimal(amount)


@given(amounts)
def test_three_decimal_currencies_divide_by_1000(amount):
    assert minor_to_decimal(amount, "KWD") * 1000 == amount


def test_formatting_examples():
    assert format_money(1999, "USD") == "$19.99"
    assert format_money(1999, "JPY") == "¥1,999"
    assert format_money(0, "EUR") == "€0.00"
    assert format_money(123456, "GBP") == "£1,234.56"


# ---- Reporting currency: one conversion, integer minor units, rounded once ------------------------------------

RATES = {"EUR": Decimal("1.08"), "GBP": Decimal("1.27"), "JPY": Decimal("0.0067"), "KWD": Decimal("3.2573")}
mrr_amounts = st.integers(min_value=0, max_value=10**12)
rates = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("10000"), places=6)


@pytest.fixture
def reporting(settings):
    settings.REPORTING_CURRENCY = "USD"
    settings.EXCHANGE_RATES = dict(RATES)
    return settings


def test_conversion_examples(reporting):
    assert to_reporting(2000, "EUR") == 2160  # €20.00 → $21.60
    assert to_reporting(1000, "USD") == 1000  # the reporting currency is its own rate, 1
    assert to_reporting(1699, "GBP") == 2158  # 21.5773 → 21.58
    assert to_reporting(1000, "JPY") == 670  # ¥1,000 (no minor unit) → $6.70
    assert to_reporting(1000, "KWD") == 326  # 1.000 KWD (three decimals) → $3.2573 → $3.26
    assert to_reporting(50, "EUR") == 54
    assert to_reporting(0, "GBP") == 0


def test_halves_round_away_from_zero_like_postgres_round(reporting):
    reporting.EXCHANGE_RATES = {"EUR": Decimal("1.5")}
    assert [to_reporting(amount, "EUR") for amount in (1, 3, 5)] == [2, 5, 8]  # 1.5, 4.5, 7.5 all go up


def test_a_currency_without_a_rate_is_refused_with_a_sentence(reporting):
    with pytest.raises(UnknownCurrency, match="No exchange rate to USD is configured for CHF"):
        to_reporting(100, "CHF")
    assert currencies_without_rate(["USD", "EUR", "CHF", "AUD"]) == ["AUD", "CHF"]


def test_the_note_names_every_rate(reporting):
    assert reporting_rates_note() == ("Sorted in USD at configured rates: 1 EUR = 1.08 USD, 1 GBP = 1.27 USD, "
                                      "1 JPY = 0.0067 USD, 1 KWD = 3.2573 USD.")


@given(mrr_amounts, rates)
def test_it_is_the_exact_product_rounded_once(amount, rate):
    with override_settings(REPORTING_CURRENCY="USD", EXCHANGE_RATES={"EUR": rate}):
        converted = to_reporting(amount, "EUR")
    assert type(converted) is int
    exact = Fraction(amount) * Fraction(rate)
    assert abs(Fraction(converted) - exact) <= Fraction(1, 2)  # nearest minor unit, no float drift at 10^12
    assert Fraction(converted) - exact != Fraction(-1, 2)  # a half goes up


@given(mrr_amounts, mrr_amounts, rates)
def test_it_keeps_the_order_of_amounts_in_one_currency(a, b, rate):
    with override_settings(REPORTING_CURRENCY="USD", EXCHANGE_RATES={"EUR": rate}):
        assert (to_reporting(min(a, b), "EUR") <= to_reporting(max(a, b), "EUR"))


@pytest.mark.django_db
@hypothesis_settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(amount=mrr_amounts, currency=st.sampled_from(["USD", *RATES]), rate=rates)
def test_the_sql_form_gives_the_same_integer(reporting, amount, currency, rate):
    """What the set-based recompute, the seeder and the migration store equals what services store."""
    with override_settings(EXCHANGE_RATES={**RATES, "EUR": rate}):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {reporting_sql('x.amount', 'x.currency')} FROM (SELECT %s::bigint AS amount, "
                           f"%s::text AS currency) x", [amount, currency])
            (in_sql,) = cursor.fetchone()
        assert in_sql == to_reporting(amount, currency)


def test_bad_exchange_rates_stop_the_start():
    from django.core.exceptions import ImproperlyConfigured

    from portal.settings import _exchange_rates

    assert _exchange_rates(" eur=1.08, GBP = 1.27 ,") == {"EUR": Decimal("1.08"), "GBP": Decimal("1.27")}
    for text in ("EUR", "EUR=abc", "EUR=-1", "EUR=0", "EURO=1.1", "E'R=1", "EUR=NaN"):
        with pytest.raises(ImproperlyConfigured):
            _exchange_rates(text)
