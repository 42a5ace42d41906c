"""Money display: integer minor units in, the right number of decimals out, for every currency kind."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from portal.money import format_money, minor_to_decimal

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
