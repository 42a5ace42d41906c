"""Support tickets and their comments; email templates and the emails sent to customers; escalations to a
manager."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portal.ids import new_email_id, new_escalation_id, new_ticket_id


class Ticket(models.Model):
    """A customer's support request. Status moves and the reply clock follow support/rules.py; every change goes
    through support/services.py."""

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

    # ---- Support desk: the request itself, what it is about, and its reply clock ----------------------------
    description = models.TextField(blank=True, max_length=10000)
    # What the ticket was opened from, shown on it: a failed payment (its amount and decline reason) and/or an
    # event of the customer's timeline.
    payment = models.ForeignKey("payments.Payment", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="tickets")
    activity_event = models.ForeignKey("customers.ActivityEvent", null=True, blank=True,
                                       on_delete=models.SET_NULL, related_name="+")
    first_response_at = models.DateTimeField(null=True, blank=True, help_text="The first public reply")
    due_at = models.DateTimeField(null=True, blank=True,
                                  help_text="When the first reply is due; empty once the clock has stopped")
    # The queues sort most urgent first; a stored rank lets one index serve that order.
    priority_rank = models.GeneratedField(
        expression=models.Case(*(models.When(priority=code, then=models.Value(rank))
                                 for rank, code in enumerate(("urgent", "high", "normal", "low"))),
                               default=models.Value(9)),
        output_field=models.SmallIntegerField(), db_persist=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_time"),
            # The queues: open tickets in priority order, oldest first; and the same per assignee ("mine").
            models.Index(fields=["priority_rank", "created_at", "id"], name="ticket_open_queue",
                         condition=models.Q(status__in=["open", "pending", "escalated"])),
            models.Index(fields=["assignee", "priority_rank", "created_at", "id"], name="ticket_open_by_assignee",
                         condition=models.Q(status__in=["open", "pending", "escalated"])),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class TicketComment(models.Model):
    """One message of a ticket's conversation: the customer's (`from_customer`), an agent's public reply (emailed
    to the customer, `email`), or an internal note (`public` false: portal users only)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    from_customer = models.BooleanField(default=False)
    body = models.TextField()
    created_at = models.DateTimeField()

    # ---- Support desk: internal note or public reply, and the email that carried a reply --------------------
    public = models.BooleanField(default=False)
    email = models.ForeignKey("support.EmailMessage", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")

    class Meta:
        indexes = [models.Index(fields=["ticket", "created_at", "id"], name="ticketcomment_ticket_time")]

    @property
    def kind(self) -> str:
        """customer, reply or note: how the conversation shows it."""
        if self.from_customer:
            return "customer"
        return "reply" if self.public else "note"


class EmailTemplate(models.Model):
    """An email an agent (or a job) can send, written by admins in Django's template language.

    `subject` and `body` are rendered without HTML escaping (they are the plain-text parts); `html` is optional
    and rendered with autoescaping on. Without it the HTML part is the text part, escaped, with paragraphs and
    links. The variables a template may use are listed in support/email_context.py (VARIABLES); a template naming
    any other is refused when it is saved, previewed or sent.
    """

    code = models.SlugField(max_length=60, unique=True, help_text="Stable name used by the API and jobs, e.g. welcome")
    name = models.CharField(max_length=120, help_text="What agents see in the list, e.g. Welcome")
    subject = models.CharField(max_length=200)
    body = models.TextField(help_text="Plain-text body")
    html = models.TextField(blank=True, help_text="Optional HTML body; empty: built from the plain-text body")
    marketing = models.BooleanField(default=False, help_text="Only for customers who consented to marketing email")
    active = models.BooleanField(default=True, help_text="Inactive templates cannot be sent")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EmailMessage(models.Model):
    """One email to one customer, rendered when it was queued. Delivered at most once by support.tasks.

    queued → sending → sent / failed; a transient error sends it back to queued with the reason (a retry is
    scheduled for `next_attempt_at`). Holds the customer's address and the rendered text: erasable personal data,
    which is why none of it goes into the audit row.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    public_id = models.CharField(max_length=24, unique=True, default=new_email_id, editable=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="emails")
    template = models.ForeignKey(EmailTemplate, on_delete=models.PROTECT, related_name="messages")
    to_address = models.EmailField(max_length=254)
    subject = models.CharField(max_length=255)
    text_body = models.TextField()
    html_body = models.TextField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    provider_message_id = models.CharField(max_length=255, blank=True)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now, help_text="When a queued message is due to go out")
    sending_since = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["customer", "-created_at", "-id"], name="email_customer_time"),
            # The recovery job's two questions: queued and overdue, sending for too long. Sent and failed rows
            # (nearly all of them) stay out of this index.
            models.Index(fields=["status", "next_attempt_at"], name="email_unfinished",
                         condition=models.Q(status__in=["queued", "sending"])),
        ]

    def __str__(self) -> str:
        return self.public_id


# ---- Escalations -----------------------------------------------------------------------------------------------
# An agent flags a customer (or one of their tickets) for a manager's review; a manager resolves it with a note.
# Services: support/escalations.py. At most one open escalation per customer (without a ticket) and one per ticket,
# enforced by partial unique indexes, so two agents escalating at once make one.
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
