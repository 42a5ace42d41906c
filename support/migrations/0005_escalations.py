"""Escalations: an agent flags a customer or a ticket for a manager's review (support/escalations.py).

Partial unique indexes keep one open escalation per customer (without a ticket) and one per ticket, so two agents
escalating at once make one; the queue walks a partial index of the open ones, oldest first.
"""

import django.db.models.deletion
import portal.ids
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0001_initial'),
        ('support', '0004_ticket_desk'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Escalation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('public_id', models.CharField(default=portal.ids.new_escalation_id, editable=False, max_length=24, unique=True)),
                ('reason', models.CharField(choices=[('billing_dispute', 'Billing dispute'), ('refund_over_limit', 'Refund above my limit'), ('complaint', 'Complaint or unhappy customer'), ('churn_risk', 'Valuable customer about to leave'), ('technical', 'Technical problem I cannot solve'), ('legal', 'Legal, fraud or compliance'), ('other', 'Other')], max_length=20)),
                ('note', models.TextField(blank=True, max_length=2000)),
                ('status', models.CharField(choices=[('open', 'Open'), ('resolved', 'Resolved')], default='open', max_length=10)),
                ('raised_at', models.DateTimeField()),
                ('resolved_at', models.DateTimeField(blank=True, null=True)),
                ('resolution_note', models.TextField(blank=True, max_length=2000)),
                ('customer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='escalations', to='customers.customer')),
                ('raised_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('ticket', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='escalations', to='support.ticket')),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('status', 'open')), fields=['raised_at', 'id'], name='escalation_open_queue'), models.Index(fields=['customer', '-raised_at'], name='escalation_customer_time'), models.Index(condition=models.Q(('status', 'resolved')), fields=['-resolved_at', '-id'], name='escalation_resolved_recent')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'open'), ('ticket__isnull', True)), fields=('customer',), name='escalation_one_open_per_customer'), models.UniqueConstraint(condition=models.Q(('status', 'open')), fields=('ticket',), name='escalation_one_open_per_ticket'), models.CheckConstraint(condition=models.Q(models.Q(('resolved_at__isnull', True), ('status', 'open')), models.Q(('resolved_at__isnull', False), ('status', 'resolved')), _connector='OR'), name='escalation_resolved_has_time')],
            },
        ),
    ]
