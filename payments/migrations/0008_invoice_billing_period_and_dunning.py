"""Invoices for the billing jobs (subscriptions/billing.py):

- `payment_failed_at`: the first failed charge, from which the dunning schedule counts its retry days;
- `billing_reason`: why the invoice was issued ("" for older rows), and at most one `subscription_cycle` invoice per
  subscription and period start (`invoice_one_per_period`);
- two partial indexes for the dunning job: retries that are due, and invoices waiting with no retry planned.

Indexes are built CONCURRENTLY, so a live invoice table stays writable while they build; the new columns are
nullable or have a constant default, which Postgres adds without rewriting the table.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

ONE_PER_PERIOD = models.UniqueConstraint(condition=models.Q(("billing_reason", "subscription_cycle")),
                                         fields=("subscription", "period_start"), name="invoice_one_per_period")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("payments", "0007_billing_and_retention"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="billing_reason",
            field=models.CharField(blank=True, choices=[("subscription_cycle", "Subscription period"),
                                                        ("subscription_update", "Plan change"), ("manual", "Manual")],
                                   db_default="", default="", max_length=20),
        ),
        migrations.AddField(
            model_name="invoice",
            name="payment_failed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        AddIndexConcurrently(
            model_name="invoice",
            index=models.Index(condition=models.Q(("next_retry_at__isnull", False), ("status", "open")),
                               fields=["next_retry_at", "id"], name="invoice_retry_due"),
        ),
        AddIndexConcurrently(
            model_name="invoice",
            index=models.Index(condition=models.Q(("next_retry_at__isnull", True), ("payment_failed_at__isnull", False),
                                                  ("status", "open")),
                               fields=["payment_failed_at", "id"], name="invoice_dunning_waiting"),
        ),
        # A partial unique constraint is a unique index in Postgres: built concurrently like the others.
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(
                'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "invoice_one_per_period" ON "payments_invoice" '
                "(\"subscription_id\", \"period_start\") WHERE \"billing_reason\" = 'subscription_cycle'",
                'DROP INDEX CONCURRENTLY IF EXISTS "invoice_one_per_period"')],
            state_operations=[migrations.AddConstraint(model_name="invoice", constraint=ONE_PER_PERIOD)],
        ),
    ]
