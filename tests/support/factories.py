"""Factories for the support app: email templates, email messages, consent records, tickets and comments."""

import factory
from django.utils import timezone

from privacy.models import Consent
from support import rules
from support.models import Escalation, EmailMessage, EmailTemplate, Ticket, TicketComment
from tests.factories import CustomerFactory


class EmailTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailTemplate
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"template-{n}")
    name = factory.LazyAttribute(lambda t: t.code.replace("-", " ").capitalize())
    subject = "Hello {{ first_name }}"
    body = "Hi {{ full_name }},\n\nYour plan: {{ plan_name|default:'none' }}.\n\n{{ agent_name }}"
    html = ""
    marketing = False
    active = True


class EmailMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailMessage

    customer = factory.SubFactory(CustomerFactory)
    template = factory.SubFactory(EmailTemplateFactory)
    to_address = factory.LazyAttribute(lambda m: m.customer.email)
    subject = "Hello"
    text_body = "Hi\n"
    html_body = "<p>Hi</p>"
    status = EmailMessage.Status.QUEUED
    created_at = factory.LazyFunction(timezone.now)
    next_attempt_at = factory.LazyFunction(timezone.now)


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    customer = factory.SubFactory(CustomerFactory)
    purpose = Consent.Purpose.MARKETING
    channel = Consent.Channel.EMAIL
    granted = True
    source = "preference_center"
    version = "2026-01"
    recorded_at = factory.LazyFunction(timezone.now)


class TicketFactory(factory.django.DjangoModelFactory):
    """An open ticket whose reply clock runs from `created_at` (set `due_at=None` for a stopped clock)."""

    class Meta:
        model = Ticket

    customer = factory.SubFactory(CustomerFactory)
    subject = "Charged twice this month"
    description = "I see two charges on my card for this month."
    status = Ticket.Status.OPEN
    priority = Ticket.Priority.NORMAL
    created_at = factory.LazyFunction(timezone.now)
    due_at = factory.LazyAttribute(lambda t: rules.reply_due_at(created_at=t.created_at, priority=t.priority)
                                   if t.status in ("open", "escalated") else None)


class TicketCommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketComment

    ticket = factory.SubFactory(TicketFactory)
    body = "Checked the account: the second line is an authorisation."
    public = False
    created_at = factory.LazyFunction(timezone.now)


class EscalationFactory(factory.django.DjangoModelFactory):
    """An open escalation written directly (no service): keep Customer.escalated_at in step when it matters."""

    class Meta:
        model = Escalation

    customer = factory.SubFactory(CustomerFactory)
    reason = Escalation.Reason.BILLING_DISPUTE
    note = "Charged twice this month"
    raised_at = factory.LazyFunction(timezone.now)
