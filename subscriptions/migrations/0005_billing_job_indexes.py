"""Partial indexes for the billing jobs (subscriptions/billing.py): each job walks only the rows that can be due,
in (due time, id) order, so a batch is an index range scan however many subscriptions there are. Built
CONCURRENTLY, so a live subscription table stays writable while they build."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models.functions import Coalesce

LIVE = ["trial", "active", "grace", "paused"]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("subscriptions", "0004_retention_offer_request_key"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="subscription",
            index=models.Index(Coalesce("trial_end", "current_period_end"), models.F("id"),
                               condition=models.Q(("cancel_at_period_end", False), ("status", "trial")),
                               name="subscription_trial_due"),
        ),
        AddIndexConcurrently(
            model_name="subscription",
            index=models.Index(condition=models.Q(("cancel_at_period_end", False), ("status", "active")),
                               fields=["current_period_end", "id"], name="subscription_renewal_due"),
        ),
        AddIndexConcurrently(
            model_name="subscription",
            index=models.Index(condition=models.Q(("cancel_at_period_end", True), ("status__in", LIVE)),
                               fields=["current_period_end", "id"], name="subscription_period_end_due"),
        ),
        AddIndexConcurrently(
            model_name="subscription",
            index=models.Index(condition=models.Q(("resume_on__isnull", False), ("status", "paused")),
                               fields=["resume_on", "id"], name="subscription_resume_due"),
        ),
        AddIndexConcurrently(
            model_name="subscription",
            index=models.Index(condition=models.Q(("status", "suspended")), fields=["suspended_at", "id"],
                               name="subscription_suspended_since"),
        ),
        AddIndexConcurrently(
            model_name="subscription",
            index=models.Index(condition=models.Q(("cancel_after_settle", ""), _negated=True), fields=["id"],
                               name="subscription_cancel_waiting"),
        ),
    ]
