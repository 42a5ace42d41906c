"""The audit and access logs become append-only in the database itself (portal/audit_chain.py): pgtrigger's
Protect triggers, which honour a `pgtrigger.ignore` setting any session may set, give way to our own triggers;
created_at comes from the database clock; audit rows already present are linked into the hash chain first."""

import django.db.models.functions.datetime
import pgtrigger.migrations
from django.db import migrations, models

from portal.audit_chain import INSTALL_SQL, UNINSTALL_SQL, row_hash_sql

# Existing rows, oldest first, each linked to the one before (before the triggers exist, so UPDATE is allowed).
CHAIN_EXISTING_ROWS = f"""
DO $$
DECLARE
    r record;
    previous text := '';
BEGIN
    FOR r IN SELECT id FROM portal_auditevent ORDER BY id LOOP
        UPDATE portal_auditevent SET prev_hash = previous WHERE id = r.id;
        UPDATE portal_auditevent a SET row_hash = {row_hash_sql("a")} WHERE id = r.id RETURNING row_hash INTO previous;
    END LOOP;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0003_apitoken_expiry'),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name='accesslog',
            name='append_only',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='auditevent',
            name='append_only',
        ),
        migrations.AddField(
            model_name='auditevent',
            name='prev_hash',
            field=models.CharField(db_default='', editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='row_hash',
            field=models.CharField(db_default='', editable=False, max_length=64),
        ),
        migrations.AlterField(
            model_name='accesslog',
            name='created_at',
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='created_at',
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), db_index=True),
        ),
        migrations.RunSQL(CHAIN_EXISTING_ROWS, migrations.RunSQL.noop),
        migrations.RunSQL(INSTALL_SQL, UNINSTALL_SQL),
    ]
