"""The customer row learns its subscription's state and its MRR in the reporting currency.

- subscription_state (+ trial_ends_at, payment_failing_since, resumes_on): what the directory and the profile
  header mark (trial, grace, paused, …) without joining the subscriptions.
- mrr_reporting: MRR in minor units of settings.REPORTING_CURRENCY (portal.money), the directory's MRR sort, with
  the same index shape as before: `(status, mrr_reporting, id)`, walked once per status (ordering.Branches.STATUS).
  It replaces `customer_dir_status_mrr`, which sorted dollars, euros and pounds by their raw numbers.

Existing rows are filled set-based, one id range per transaction (a live table of a million customers is never
locked as a whole), with the rules customers.services.derived_state applies from now on; the SQL is written out
here so that this migration keeps meaning what it meant when later ones change the model. The index is built
CONCURRENTLY after the fill, so the fill does not maintain it row by row.
"""

from django.db import migrations, models, transaction

from portal.money import currencies_without_rate, reporting_currency, reporting_sql

CHUNK = 50_000
LIVE = ("trial", "active", "grace", "paused")

STATE_SQL = """
UPDATE customers_customer c
   SET subscription_state = s.status,
       trial_ends_at = CASE WHEN s.status = 'trial' THEN coalesce(s.trial_end, s.current_period_end) END,
       payment_failing_since = CASE WHEN s.status = 'grace' THEN s.current_period_start END,
       resumes_on = CASE WHEN s.status = 'paused' THEN s.resume_on END
  FROM (SELECT DISTINCT ON (customer_id) customer_id, status, trial_end, current_period_start, current_period_end,
               resume_on
          FROM subscriptions_subscription
         WHERE customer_id BETWEEN %(low)s AND %(high)s
         ORDER BY customer_id, status = ANY(%(live)s) DESC, started_at DESC, id DESC) s
 WHERE c.id = s.customer_id
"""


def fill(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT currency FROM customers_customer")
        missing = currencies_without_rate(currency for (currency,) in cursor.fetchall())
        if missing:
            raise RuntimeError(f"No exchange rate to {reporting_currency()} for {', '.join(missing)}: set "
                               f"EXCHANGE_RATES (e.g. \"{missing[0]}=1.00\") and migrate again.")
        cursor.execute("SELECT min(id), max(id) FROM customers_customer")
        first, last = cursor.fetchone()
    if first is None:
        return
    value_sql = reporting_sql("mrr", "currency")
    for low in range(first, last + 1, CHUNK):
        high = low + CHUNK - 1
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(STATE_SQL, {"low": low, "high": high, "live": list(LIVE)})
            cursor.execute(f"UPDATE customers_customer SET mrr_reporting = {value_sql} "
                           f"WHERE id BETWEEN %s AND %s AND mrr <> 0", [low, high])


class Migration(migrations.Migration):
    atomic = False  # the fill commits per id range; CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("customers", "0004_registered_index_covers_search"),
        ("subscriptions", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="mrr_reporting",
            field=models.BigIntegerField(default=0, help_text="MRR converted to the reporting currency"),
        ),
        migrations.AddField(
            model_name="customer",
            name="subscription_state",
            field=models.CharField(blank=True, default="", max_length=10),
        ),
        migrations.AddField(
            model_name="customer",
            name="trial_ends_at",
            field=models.DateTimeField(blank=True, help_text="Set while in trial", null=True),
        ),
        migrations.AddField(
            model_name="customer",
            name="payment_failing_since",
            field=models.DateTimeField(blank=True, help_text="Set while in grace: the renewal that failed", null=True),
        ),
        migrations.AddField(
            model_name="customer",
            name="resumes_on",
            field=models.DateField(blank=True, help_text="Set while paused, when a resume date is given", null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS customer_dir_status_mrr_reporting "
            "ON customers_customer (status, mrr_reporting, id)",
            "DROP INDEX CONCURRENTLY IF EXISTS customer_dir_status_mrr_reporting",
        ),
        migrations.RunSQL(
            "DROP INDEX CONCURRENTLY IF EXISTS customer_dir_status_mrr",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS customer_dir_status_mrr ON customers_customer (status, mrr, id)",
        ),
    ]
