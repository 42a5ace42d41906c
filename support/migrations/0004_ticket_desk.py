"""Support desk: a ticket's description, what it was opened from, its reply clock and a priority rank for the
queues; comments become internal notes or public replies.

Named 0003 next to the email branch's 0003: the two were written side by side; this one runs after it."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def start_reply_clocks(apps, schema_editor):
    """Tickets that already exist: the first agent reply is their first response; open ones without one get
    their due time from today's targets (support/rules.py)."""
    from support.rules import response_target

    Ticket = apps.get_model("support", "Ticket")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("""
            UPDATE support_ticket t SET first_response_at = r.first
            FROM (SELECT ticket_id, min(created_at) AS first FROM support_ticketcomment
                  WHERE NOT from_customer GROUP BY ticket_id) r
            WHERE r.ticket_id = t.id""")
        for priority in ("urgent", "high", "normal", "low"):
            cursor.execute(
                f"UPDATE {Ticket._meta.db_table} SET due_at = created_at + %s "
                "WHERE priority = %s AND status IN ('open', 'escalated') AND first_response_at IS NULL",
                [response_target(priority), priority])


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0005_subscription_state_and_mrr_reporting'),
        ('payments', '0002_initial'),
        ('support', '0003_default_email_templates'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='ticket',
            name='activity_event',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='customers.activityevent'),
        ),
        migrations.AddField(
            model_name='ticket',
            name='description',
            field=models.TextField(blank=True, max_length=10000),
        ),
        migrations.AddField(
            model_name='ticket',
            name='due_at',
            field=models.DateTimeField(blank=True, help_text='When the first reply is due; empty once the clock has stopped', null=True),
        ),
        migrations.AddField(
            model_name='ticket',
            name='first_response_at',
            field=models.DateTimeField(blank=True, help_text='The first public reply', null=True),
        ),
        migrations.AddField(
            model_name='ticket',
            name='payment',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='tickets', to='payments.payment'),
        ),
        migrations.AddField(
            model_name='ticketcomment',
            name='email',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='support.emailmessage'),
        ),
        migrations.AddField(
            model_name='ticketcomment',
            name='public',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='ticket',
            name='priority_rank',
            field=models.GeneratedField(db_persist=True, expression=models.Case(models.When(priority='urgent', then=models.Value(0)), models.When(priority='high', then=models.Value(1)), models.When(priority='normal', then=models.Value(2)), models.When(priority='low', then=models.Value(3)), default=models.Value(9)), output_field=models.SmallIntegerField()),
        ),
        migrations.AddIndex(
            model_name='ticket',
            index=models.Index(condition=models.Q(('status__in', ['open', 'pending', 'escalated'])), fields=['priority_rank', 'created_at', 'id'], name='ticket_open_queue'),
        ),
        migrations.AddIndex(
            model_name='ticket',
            index=models.Index(condition=models.Q(('status__in', ['open', 'pending', 'escalated'])), fields=['assignee', 'priority_rank', 'created_at', 'id'], name='ticket_open_by_assignee'),
        ),
        migrations.AddIndex(
            model_name='ticketcomment',
            index=models.Index(fields=['ticket', 'created_at', 'id'], name='ticketcomment_ticket_time'),
        ),
        # Comments written before this migration are the customer's messages and the replies the team sent them.
        migrations.RunSQL("UPDATE support_ticketcomment SET public = true", migrations.RunSQL.noop),
        migrations.RunPython(start_reply_clocks, migrations.RunPython.noop),
    ]
