"""Each billing walk is a range scan of its partial index, for the first batch and for the next ones (a million
subscriptions cost the jobs only the rows that are due). Checked on the plans Postgres makes with sequential scans
discouraged, which is what it chooses on a large table whose due rows are few."""

from __future__ import annotations

from datetime import datetime, timezone as dt_timezone

import pytest
from django.db import connection

from subscriptions import billing

NOW = datetime(2027, 3, 1, 9, tzinfo=dt_timezone.utc)

INDEXES = {
    ("trial_end_walks", 0): "subscription_trial_due",
    ("renewal_walks", 0): "subscription_renewal_due",
    ("period_end_cancel_walks", 0): "subscription_period_end_due",
    ("resume_walks", 0): "subscription_resume_due",
    ("dunning_walks", 0): "invoice_retry_due",
    ("dunning_walks", 1): "invoice_dunning_waiting",
    ("expiry_walks", 0): "subscription_suspended_since",
    ("expiry_walks", 1): "subscription_renewal_due",
    ("expiry_walks", 2): "subscription_trial_due",
    ("cancel_after_settle_walks", 0): "subscription_cancel_waiting",
}


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_every_walk_is_listed():
    assert {(walks.__name__, index) for walks in billing.WALKS for index in range(len(walks(NOW)))} == set(INDEXES)


@pytest.mark.django_db
@pytest.mark.parametrize("walks, index", sorted(INDEXES))
def test_a_walk_scans_its_partial_index(walks, index):
    queryset, key, upto = getattr(billing, walks)(NOW)[index]
    position = (upto if key != "id" else 10, 10)
    for batch in (billing.due_batch(queryset, key, upto), billing.due_batch(queryset, key, upto, position)):
        plan = _plan(batch)
        assert INDEXES[(walks, index)] in plan, plan
