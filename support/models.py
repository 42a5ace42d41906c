"""Support tickets and their comments; escalations to a manager."""

from django.conf import settings
from django.db import models

from portal.ids import new_ticket_id


class Ticket(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Waiting on customer"
        ESCALATED = "escalated", "Escalated"
        SOLVED = "solved", "Solved"
        CLOSED = "closed", "Closed"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    OPEN_STATUSES = (Status.OPEN, Status.PENDING, Status.ESCALATED)

    public_id = models.CharField(max_length=24, unique=True, default=new_ticket_id, editable=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="tickets")
    subject = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_tickets")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "-created_at"], name="ticket_customer_time")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.subject}"


class TicketComment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    from_customer = models.BooleanField(default=False)
    body = models.TextField()
    created_at = models.DateTimeField()


# ---- Escalations -----------------------------------------------------------------------------------------------
# An agent flags a customer (or one of their tickets) for a manager's review; a manager resolves it with a note.
# Services: support/escalations.py. At most one open escalation per customer (without a ticket) and one per ticket,
# enforced by partial unique indexes, so two agents escalating at once make one.
# (Imported here, with the block they serve, so the ticket models above stay as they are.)
from django.db.models import Q  # noqa: E402

from portal.ids import new_escalation_id  # noqa: E402

class Escalation(models.Model):
    class Reason(models.TextChoices):
        BILLING_DISPUTE = "billing_dispute", "Billing dispute"
        REFUND_OVER_LIMIT = "refund_over_limit", "Refund above my limit"
        COMPLAINT = "complaint", "Complaint or unhappy customer"
        CHURN_RISK = "churn_risk", "Valuable customer about to leave"
        TECHNICAL = "technical", "Technical problem I cannot solve"
        LEGAL = "legal", "Legal, fraud or compliance"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    public_id = models.CharField(max_length=24, unique=True, default=new_escalation_id, editable=False)
    # No index of its own: escalation_customer_time leads with customer_id.
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="escalations",
                                 db_index=False)
    ticket = models.ForeignKey(Ticket, null=True, blank=True, on_delete=models.CASCADE, related_name="escalations")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    # Free text stays here (erasable with the customer), never in the append-only audit row.
    note = models.TextField(blank=True, max_length=2000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    raised_at = models.DateTimeField()
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True, max_length=2000)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer"], condition=Q(status="open", ticket__isnull=True),
                                    name="escalation_one_open_per_customer"),
            models.UniqueConstraint(fields=["ticket"], condition=Q(status="open"),
                                    name="escalation_one_open_per_ticket"),
            models.CheckConstraint(
                condition=Q(status="open", resolved_at__isnull=True) | Q(status="resolved", resolved_at__isnull=False),
                name="escalation_resolved_has_time"),
        ]
        indexes = [
            # The queue: open escalations, oldest first (keyset on (raised_at, id)); a small partial index.
            models.Index(fields=["raised_at", "id"], condition=Q(status="open"), name="escalation_open_queue"),
            models.Index(fields=["customer", "-raised_at"], name="escalation_customer_time"),
            models.Index(fields=["-resolved_at", "-id"], condition=Q(status="resolved"),
                         name="escalation_resolved_recent"),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN
