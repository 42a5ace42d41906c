"""The proration rules (subscriptions/proration.py): exact amounts for the cases people check by hand, and
properties of the pure functions over many generated prices and moments."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from fractions import Fraction
from math import ceil, floor

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from subscriptions.proration import (
    charge_for_rest, net_for_change, prorate, renewal_amount, resumed_period, round_trip_cost, time_left,
)

START = datetime(2030, 3, 1, 12, 0, tzinfo=timezone.utc)
MONTH = START + timedelta(days=30)
YEAR = START + timedelta(days=365)
BASIC, PRO = 1500, 4900  # $15.00 and $49.00 a month
BASIC_YEARLY, PRO_YEARLY = 15000, 49000


def _at(days_left: float, end=MONTH):
    return end - timedelta(days=days_left)


def _amounts(old, new, at, end=MONTH):
    share = prorate(old_price=old, new_price=new, start=START, end=end, at=at)
    return share.charge, share.credit, share.net


@pytest.mark.parametrize(("old", "new", "at", "end", "expected"), [
    # monthly → monthly in the middle of the period: 12 of 30 days left
    (BASIC, PRO, _at(12), MONTH, (1960, 600, 1360)),
    # the first moment of the period: the two full prices
    (BASIC, PRO, START, MONTH, (4900, 1500, 3400)),
    # the last day: one day of thirty left ($49.00 / 30 = 163.33…, $34.00 / 30 = 113.33…)
    (BASIC, PRO, _at(1), MONTH, (163, 50, 113)),
    # the last moment and after it: nothing
    (BASIC, PRO, MONTH, MONTH, (0, 0, 0)),
    (BASIC, PRO, MONTH + timedelta(hours=1), MONTH, (0, 0, 0)),
    # before the period (a clock behind the row): the whole period
    (BASIC, PRO, START - timedelta(hours=1), MONTH, (4900, 1500, 3400)),
    # a downgrade now: the difference becomes credit
    (PRO, BASIC, _at(12), MONTH, (600, 1960, -1360)),
    # yearly plans of different prices: 73 of 365 days left (a fifth)
    (BASIC_YEARLY, PRO_YEARLY, _at(73, YEAR), YEAR, (9800, 3000, 6800)),
    (PRO_YEARLY, BASIC_YEARLY, _at(73, YEAR), YEAR, (3000, 9800, -6800)),
    # 20 of 30 days left: the exact difference is 2266.66…, rounded once
    (BASIC, PRO, _at(20), MONTH, (3267, 1000, 2267)),
    (PRO, BASIC, _at(20), MONTH, (1000, 3267, -2267)),
    # to a free plan: everything left of the old one back as credit
    (PRO, 0, _at(12), MONTH, (0, 1960, -1960)),
])
def test_it_prorates_exactly(old, new, at, end, expected):
    assert _amounts(old, new, at, end) == expected


def test_a_half_unit_rounds_up():
    assert charge_for_rest(1, 1, 2) == 1
    assert net_for_change(0, 1, 1, 2) == 1
    assert net_for_change(1, 0, 1, 2) == 0  # -0.5 rounds up, towards the customer


def test_time_is_clamped_into_the_period():
    assert time_left(START, MONTH, START - timedelta(days=3)) == time_left(START, MONTH, START)
    assert time_left(START, MONTH, MONTH + timedelta(days=3)) == (0, time_left(START, MONTH, START)[1])
    assert time_left(START, START, START) == (0, 0)
    assert _amounts(BASIC, PRO, START, START) == (0, 0, 0)  # an empty period has nothing to prorate


def test_the_round_trip_costs_at_most_the_half_unit():
    assert round_trip_cost(BASIC, PRO, *time_left(START, MONTH, _at(20))) == 0
    assert round_trip_cost(0, 1, 1, 2) == 1  # exactly half a unit each way: rounded up both times


def test_a_renewal_takes_off_the_retention_discount_while_cycles_are_left():
    assert renewal_amount(4900) == 4900
    assert renewal_amount(4900, 20, 2) == 3920
    assert renewal_amount(4999, 15, 1) == 4999 - 749  # the discount rounds down: 749.85 → 749
    assert renewal_amount(4900, 20, 0) == 4900
    assert renewal_amount(4900, 100, 1) == 0


def test_a_resume_moves_the_period_on_by_the_pause():
    paused_at = START + timedelta(days=10)
    now = paused_at + timedelta(days=7)
    assert resumed_period(START, MONTH, paused_at, now) == (START + timedelta(days=7), MONTH + timedelta(days=7))
    assert resumed_period(START, MONTH, None, now) == (START, MONTH)


# ---- Properties over generated prices and moments ---------------------------------------------------------------

prices = st.integers(min_value=0, max_value=10**9)
periods = st.integers(min_value=1, max_value=366 * 86_400 * 10**6)  # up to a leap year, in microseconds
PROPERTIES = settings(max_examples=1500, deadline=None, derandomize=True, database=None)


@st.composite
def moments(draw):
    period = draw(periods)
    return draw(st.integers(min_value=0, max_value=period)), period


@PROPERTIES
@given(old=prices, new=prices, moment=moments())
@example(old=BASIC, new=PRO, moment=(20, 30))
@example(old=0, new=1, moment=(1, 2))
def test_upgrade_then_immediate_downgrade_nets_within_one_minor_unit(old, new, moment):
    remaining, period = moment
    there = net_for_change(old, new, remaining, period)
    back = net_for_change(new, old, remaining, period)
    assert 0 <= there + back <= 1
    assert there + back == round_trip_cost(old, new, remaining, period)
    # one unit only when the exact difference is a whole number and a half
    assert (there + back == 1) == ((2 * (new - old) * remaining) % (2 * period) == period)


@PROPERTIES
@given(old=prices, new=prices, moment=moments())
def test_each_amount_is_its_exact_share_rounded_once(old, new, moment):
    remaining, period = moment
    unused = Fraction(remaining, period)
    charge = charge_for_rest(new, remaining, period)
    net = net_for_change(old, new, remaining, period)
    credit = charge - net
    assert abs(charge - new * unused) <= Fraction(1, 2)
    assert abs(net - (new - old) * unused) <= Fraction(1, 2)
    assert credit in (floor(old * unused), ceil(old * unused))
    assert 0 <= credit <= old and 0 <= charge <= new


@PROPERTIES
@given(old=prices, new=prices, period=periods, data=st.data())
def test_later_moments_never_cost_more(old, new, period, data):
    earlier = data.draw(st.integers(min_value=0, max_value=period))
    later = data.draw(st.integers(min_value=0, max_value=earlier))  # less time left
    assert charge_for_rest(new, later, period) <= charge_for_rest(new, earlier, period)
    assert abs(net_for_change(old, new, later, period)) <= abs(net_for_change(old, new, earlier, period))


@PROPERTIES
@given(old=prices, new=prices, period=periods)
def test_the_first_moment_is_the_full_prices_and_the_end_is_nothing(old, new, period):
    assert (charge_for_rest(new, period, period), net_for_change(old, new, period, period)) == (new, new - old)
    assert (charge_for_rest(new, 0, period), net_for_change(old, new, 0, period)) == (0, 0)
