"""The customer's owning agent ("my customers") and the escalation marker.

- owner: the agent who looks after the customer (customers.services.customer_owner_set). The directory's owner
  filter is a plain column filter, so like the status and plan filters it walks an index of the sort it is shown
  in: one `(owner_id, <sort keyset>)` btree per sort, so "my customers, by name" or "Ana's customers, newest first"
  is an index range that stops after one page, whatever the page depth. The MRR sort walks one status at a time
  (ordering.Branches.STATUS), hence `(owner_id, status, mrr_reporting, id)`; plan and storefront walk one choice
  at a time, hence `(owner_id, plan_id, id)` and `(owner_id, storefront_id, id)`. The default sort's index carries
  search_text like customer_dir_status_since, so a search within "my customers" stays an index-only walk.
  All are partial (`WHERE owner_id IS NOT NULL`): `owner_id = 7` implies it, so Postgres uses them for the filter,
  and customers without an owner (most of them) cost no index entry and no write. They also serve the foreign
  key's ON DELETE SET NULL, so the column has no index of its own.
- escalated_at: when the oldest open escalation of the customer was raised, kept by support/escalations.py; read
  with the row (directory marker, profile header), never filtered on, so not indexed.

Indexes are created CONCURRENTLY, so a live table of a million customers stays writable while they build.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

OWNER_INDEXES = {
    "customer_owner_since": "(owner_id, registered_at, id) INCLUDE (search_text)",
    "customer_owner_name": "(owner_id, last_name, first_name, id)",
    "customer_owner_email": "(owner_id, email, id)",
    "customer_owner_status": "(owner_id, status, id)",
    "customer_owner_plan": "(owner_id, plan_id, id)",
    "customer_owner_status_mrr": "(owner_id, status, mrr_reporting, id)",
    "customer_owner_storefront": "(owner_id, storefront_id, id)",
}


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('customers', '0005_subscription_state_and_mrr_reporting'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='customer',
            name='escalated_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='customer',
            name='owner',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='owned_customers', to=settings.AUTH_USER_MODEL),
        ),
        *(
            migrations.RunSQL(
                sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON customers_customer {columns} "
                    f"WHERE owner_id IS NOT NULL",
                reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
            )
            for name, columns in OWNER_INDEXES.items()
        ),
    ]
