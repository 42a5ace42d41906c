"""The money of a plan change in the middle of a period, as pure integer functions (no database, no floats).

A change at moment `at` inside the paid period [start, end):

    unused   = (end - at) / (end - start)                 time left, to the microsecond, clamped to [0, 1]
    charge   = round_half_up(new_price × unused)          the new plan for the rest of the period
    net      = round_half_up((new_price - old_price) × unused)   the difference, rounded once
    credit   = charge - net                               the unused time on the old plan

net > 0 is invoiced and charged now; net < 0 becomes account credit. Each amount is exact before its one rounding,
so: the net is within half a minor unit of the exact difference; the credit is old_price × unused rounded down or
up (never more than the old price); at the first moment of the period (unused = 1) the lines are the two full
prices, and at its end (unused = 0) all are zero. Example: Basic at $15.00 to Pro at $49.00 with 12 of 30 days left:
unused = 0.4, charge = $19.60, net = $13.60 charged now, credit = $6.00.

Why the net is rounded once rather than the credit rounded down on its own: with credit = floor(old × unused) and
charge = round_half_up(new × unused) each rounded separately, a change and its reversal at the same moment (upgrade,
then an immediate downgrade) can cost the customer two minor units, and does so often (Basic → Pro → Basic with 20
of 30 days left: $22.68 charged, $22.66 credited). Rounding the net once makes the round trip cost nothing, or one
minor unit when the exact difference ends in exactly half a unit (`round_trip_cost`).

Plans of different intervals or currencies are never prorated against each other (subscriptions/services.py
refuses such changes); trials are not prorated (nothing was paid).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_MICROSECOND = timedelta(microseconds=1)


def _round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves up (towards +∞); denominator > 0."""
    return (2 * numerator + denominator) // (2 * denominator)


def charge_for_rest(price: int, remaining: int, period: int) -> int:
    """round_half_up(price × remaining / period): what the rest of the period costs on a plan (any time unit)."""
    if period <= 0 or remaining <= 0:
        return 0
    return _round_half_up(price * min(remaining, period), period)


def net_for_change(old_price: int, new_price: int, remaining: int, period: int) -> int:
    """round_half_up((new_price - old_price) × remaining / period): what switching plans for the rest of the period
    costs (negative: what it gives back)."""
    if period <= 0 or remaining <= 0:
        return 0
    return _round_half_up((new_price - old_price) * min(remaining, period), period)


def time_left(start: datetime, end: datetime, at: datetime) -> tuple[int, int]:
    """(remaining, period) in microseconds, with `at` clamped into [start, end]."""
    period = max((end - start) // _MICROSECOND, 0)
    remaining = (end - min(max(at, start), end)) // _MICROSECOND
    return remaining, period


@dataclass(frozen=True)
class Proration:
    charge: int  # the new plan for the rest of the period (minor units, ≥ 0)
    net: int  # charge - credit: positive, charged now; negative, given as account credit
    remaining: int  # microseconds left in the period
    period: int  # microseconds in the period

    @property
    def credit(self) -> int:
        """The unused time on the old plan (minor units, ≥ 0, never more than its price)."""
        return self.charge - self.net


def prorate(*, old_price: int, new_price: int, start: datetime, end: datetime, at: datetime) -> Proration:
    """The charge, credit and net of switching from `old_price` to `new_price` at `at` in the period [start, end)."""
    remaining, period = time_left(start, end, at)
    return Proration(charge=charge_for_rest(new_price, remaining, period),
                     net=net_for_change(old_price, new_price, remaining, period), remaining=remaining, period=period)


def round_trip_cost(old_price: int, new_price: int, remaining: int, period: int) -> int:
    """What switching old → new and straight back at the same moment costs the customer: 0, or 1 when the exact
    difference ends in exactly half a minor unit."""
    return net_for_change(old_price, new_price, remaining, period) + net_for_change(new_price, old_price, remaining,
                                                                                   period)


def renewal_amount(price: int, discount_percent: int = 0, cycles_left: int = 0) -> int:
    """A renewal's amount: the plan's price, less a retention discount while cycles of it are left (the discount
    is rounded down, so a fraction of a minor unit stays charged)."""
    if discount_percent <= 0 or cycles_left <= 0:
        return price
    return price - price * min(discount_percent, 100) // 100


def resumed_period(start: datetime, end: datetime, paused_at: datetime | None,
                   now: datetime) -> tuple[datetime, datetime]:
    """The period of a subscription resumed at `now`: the paid period moved on by the length of the pause, so the
    time that was left of it when it was paused is used after the resume (no charge, no credit). Without a known
    pause moment the period stays as it is."""
    if paused_at is None or now <= paused_at:
        return start, end
    shift = now - paused_at
    return start + shift, end + shift
