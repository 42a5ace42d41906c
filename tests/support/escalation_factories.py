"""Factories for tickets and escalations (support app)."""

import factory
from django.utils import timezone

from support.models import Escalation, Ticket
from tests.factories import CustomerFactory


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    customer = factory.SubFactory(CustomerFactory)
    subject = factory.Sequence(lambda n: f"Question {n}")
    status = Ticket.Status.OPEN
    created_at = factory.LazyFunction(timezone.now)


class EscalationFactory(factory.django.DjangoModelFactory):
    """An open escalation written directly (no service): keep Customer.escalated_at in step when it matters."""

    class Meta:
        model = Escalation

    customer = factory.SubFactory(CustomerFactory)
    reason = Escalation.Reason.BILLING_DISPUTE
    note = "Charged twice this month"
    raised_at = factory.LazyFunction(timezone.now)
