"""The default sort (newest first) made cheap for searches and for the status and plan filters.

- The default sort's index carries search_text, so a search walked newest-first is an index-only scan.
- `(status, registered_at, id)`, also carrying search_text: a status filter in the default sort is a range of its
  own. Walking the plain date index instead reads past every newer customer of the other statuses, and churned
  customers are bunched among the oldest (100+ ms at a million customers).
- `(plan_id, registered_at, id)`: the same for the plan filter, whose smaller plans (a few thousand customers)
  would otherwise be found by walking past a million newer ones.
- The planner keeps a finer histogram of search_text, so its estimate of how many customers a search term
  matches is close enough to choose between walking and gathering (customers/selectors/directory/filling.py).
"""

from django.db import migrations, models

# 1,000 histogram entries: a term that one customer in 1,000 matches shows in the estimate; planning stays ~1 ms.
SEARCH_TEXT_STATISTICS = 1000


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('customers', '0003_directory_indexes'),
        ('subscriptions', '0001_initial'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='customer',
            name='customer_registered',
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['registered_at', 'id'], include=('search_text',), name='customer_registered'),
        ),
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS customer_dir_status_since "
            "ON customers_customer (status, registered_at, id) INCLUDE (search_text)",
            "DROP INDEX CONCURRENTLY IF EXISTS customer_dir_status_since",
        ),
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS customer_dir_plan_since "
            "ON customers_customer (plan_id, registered_at, id)",
            "DROP INDEX CONCURRENTLY IF EXISTS customer_dir_plan_since",
        ),
        migrations.RunSQL(
            f"ALTER TABLE customers_customer ALTER COLUMN search_text SET STATISTICS {SEARCH_TEXT_STATISTICS}",
            "ALTER TABLE customers_customer ALTER COLUMN search_text SET STATISTICS -1",
        ),
    ]
