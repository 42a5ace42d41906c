"""The dunning schedule: when an unpaid invoice is charged again, as data read from settings.

The first failed charge of an invoice starts it (`Invoice.payment_failed_at`). Retries fall on the configured days
after that failure (settings.PORTAL["DUNNING_RETRY_DAYS"], default 1, 3, 5 and 7), and `Invoice.next_retry_at`
holds the next one. The billing job (subscriptions/billing.py) is the only writer of both fields; a settled invoice
has no retry planned (payments/outcomes.py clears it).

- A retry that fails plans the next day of the schedule still ahead; days that passed while the job was not running
  are skipped, never made up in a burst.
- A hard decline plans no retry (`next_retry_at` None): the same card would fail again. The retries come back when
  the customer's default method is no longer the one declined (a card-update link, the gateway, an agent): the
  card-update page charges the new card at once, and that charge is the retry; a method changed any other way is
  retried by the job's next run.
- The grace period ends with the schedule: when the last retry day has passed and the invoice is still unpaid, the
  subscription is suspended (hard decline or not). A suspended subscription has no schedule; a new card is charged
  once, and paying the invoice brings the subscription back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings


def retry_days() -> list[int]:
    """Days after the first failure on which the charge is retried, in order."""
    return sorted({int(day) for day in settings.PORTAL["DUNNING_RETRY_DAYS"] if int(day) > 0})


def retry_after(failed_at: datetime, now: datetime) -> datetime | None:
    """The next retry of an invoice whose first charge failed at `failed_at`: the first scheduled day strictly after
    `now`, or None when the schedule has no day left."""
    for day in retry_days():
        moment = failed_at + timedelta(days=day)
        if moment > now:
            return moment
    return None


def schedule_ends_at(failed_at: datetime) -> datetime:
    """When the last retry falls, which is also when the grace period ends if that retry fails."""
    days = retry_days()
    return failed_at + timedelta(days=days[-1] if days else 0)
