"""Idempotency keys are reserved before the endpoint runs (portal/idempotency.py): the response columns may be
empty while it runs, and requests are compared by one fingerprint of method, full path and body. Keys stored
before this were kept at most 24 hours anyway; they are dropped rather than converted."""

import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("portal", "0004_audit_append_only_chain"),
    ]

    operations = [
        migrations.RunSQL("DELETE FROM portal_idempotentrequest", migrations.RunSQL.noop),
        migrations.RemoveField(model_name="idempotentrequest", name="body_hash"),
        migrations.AddField(
            model_name="idempotentrequest",
            name="fingerprint",
            field=models.CharField(max_length=64, default=""),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="idempotentrequest",
            name="customer_ids",
            field=models.JSONField(default=list),
        ),
        migrations.AlterField(
            model_name="idempotentrequest",
            name="key",
            field=models.CharField(max_length=255),
        ),
        migrations.AlterField(
            model_name="idempotentrequest",
            name="status_code",
            field=models.PositiveSmallIntegerField(null=True),
        ),
        migrations.AlterField(
            model_name="idempotentrequest",
            name="response_body",
            field=models.JSONField(null=True),
        ),
        migrations.AlterField(
            model_name="idempotentrequest",
            name="created_at",
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), db_index=True),
        ),
    ]
