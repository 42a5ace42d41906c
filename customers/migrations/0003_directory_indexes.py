"""Indexes for the customer directory (customers/selectors/directory/).

- One `(sort key, id)` btree per sortable column, so every sort and every page depth is an index range walk
  (keyset pagination) and stops after one page. Name sorts by (last_name, first_name, id), the way a
  support team's phone book does; Since uses the existing `customer_registered` (registered_at, id).
  MRR is the exception: `(status, mrr, id)`, walked once per status and merged, because MRR follows from the
  status (only active customers pay) and with a plain (mrr, id) index Postgres would walk past every
  non-paying customer to find "Active, lowest MRR first". `(status, plan_id, id)` serves "Churned, by plan".
- `(country, id)` for the region filter, and for listing the regions present without scanning the table.
- Lowercased prefix btrees (text_pattern_ops: the database collation is not "C", so a plain btree cannot serve
  LIKE 'ab%') on first name, last name and email, for 1–2 character terms that a trigram index cannot answer.

They are created with raw SQL, so Django's model state is unchanged (no model field or Meta change), and
CONCURRENTLY, so a live table of a million customers stays writable while they build.
"""

from django.db import migrations

INDEXES = {
    "customer_dir_name": "(last_name, first_name, id)",
    "customer_dir_email": "(email, id)",
    "customer_dir_status": "(status, id)",
    "customer_dir_plan": "(plan_id, id)",
    "customer_dir_storefront": "(storefront_id, id)",
    "customer_dir_status_mrr": "(status, mrr, id)",
    "customer_dir_status_plan": "(status, plan_id, id)",
    "customer_dir_country": "(country, id)",
    "customer_first_name_prefix": "(lower(first_name) text_pattern_ops)",
    "customer_last_name_prefix": "(lower(last_name) text_pattern_ops)",
    "customer_email_prefix": "(lower(email) text_pattern_ops)",
}


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("customers", "0002_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON customers_customer {columns}",
            reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        )
        for name, columns in INDEXES.items()
    ]
