"""Escalations: an agent flags a customer, or one of their tickets, for a manager's review; a manager resolves it.

Each service is one transaction that locks the customer row first (then the ticket, then the escalation), makes
the change, keeps `Customer.escalated_at` current (the directory's and the header's marker) and records it with
the kernel's one call (portal.audit.audit_record). The reason's code and the ids go into the audit row; the agent's
note and the manager's resolution note stay in the escalation row, which erasure can clear.

One open escalation per customer (without a ticket) and one per ticket: the customer lock serialises two agents
escalating at once, so the second sees the first's escalation and is told who raised it and when; the partial
unique indexes (support/models.py) are the backstop, and a collision there gets the same answer.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from customers.models import ActivityEvent, Customer
from portal.audit import Timeline, audit_record
from portal.errors import DomainError
from portal.roles import Cap, has_capability
from support.models import Escalation, Ticket

NOTE_MAX_LENGTH = Escalation._meta.get_field("note").max_length
TICKET_CLOSED_STATUSES = (Ticket.Status.SOLVED, Ticket.Status.CLOSED)


class AlreadyEscalated(DomainError):
    """Somebody escalated this customer or ticket first (409 in the API); `escalation` is the open one."""

    code = "already_escalated"
    status = 409

    def __init__(self, escalation: Escalation):
        self.escalation = escalation
        who = escalation.raised_by.get_username() if escalation.raised_by else "a former user"
        what = f"Ticket {escalation.ticket.public_id}" if escalation.ticket_id else "This customer"
        when = timezone.localtime(escalation.raised_at).strftime("%Y-%m-%d %H:%M %Z")
        super().__init__(f"{what} is already escalated: by {who} at {when} ({escalation.get_reason_display()}). "
                         f"A manager will review it; add what you know to the ticket or a note.")


class AlreadyResolved(DomainError):
    code = "already_resolved"
    status = 409

    def __init__(self, escalation: Escalation):
        self.escalation = escalation
        who = escalation.resolved_by.get_username() if escalation.resolved_by else "a former user"
        when = timezone.localtime(escalation.resolved_at).strftime("%Y-%m-%d %H:%M %Z")
        super().__init__(f"This escalation was already resolved by {who} at {when}; nothing was changed.")


def _clean_note(note: str, *, required: bool, what: str) -> str:
    note = (note or "").replace("\r\n", "\n").strip()
    if required and not note:
        raise DomainError(f"Write {what} before saving.", code="invalid_note")
    if len(note) > NOTE_MAX_LENGTH:
        raise DomainError(f"The note is at most {NOTE_MAX_LENGTH:,} characters; this one has {len(note):,}.",
                          code="invalid_note")
    return note


def _open_escalation(customer: Customer, ticket: Ticket | None) -> Escalation | None:
    found = Escalation.objects.filter(customer=customer, status=Escalation.Status.OPEN).select_related(
        "raised_by", "ticket")
    return (found.filter(ticket=ticket) if ticket is not None else found.filter(ticket__isnull=True)).first()


def _refresh_marker(customer: Customer) -> None:
    """escalated_at = when the oldest open escalation of the customer was raised (None: none open)."""
    oldest = Escalation.objects.filter(customer=customer, status=Escalation.Status.OPEN).aggregate(
        oldest=Min("raised_at"))["oldest"]
    if customer.escalated_at != oldest:
        customer.escalated_at = oldest
        customer.save(update_fields=["escalated_at", "updated_at"])


@transaction.atomic
def escalation_raise(*, customer: Customer, reason: str, note: str = "", ticket: Ticket | None = None,
                     actor) -> Escalation:
    """Flag the customer (or their ticket) for a manager. Refused with AlreadyEscalated when one is open."""
    if reason not in Escalation.Reason.values:
        raise DomainError(f"Choose a reason: {', '.join(Escalation.Reason.values)}.", code="invalid_reason")
    note = _clean_note(note, required=reason == Escalation.Reason.OTHER, what="what the manager should look at")
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)  # customer, then ticket: one lock order
    if customer.status == Customer.Status.ERASED:
        raise DomainError("This customer's personal data has been erased; there is nothing left to escalate.",
                          code="customer_erased")
    if ticket is not None:
        ticket = Ticket.objects.select_for_update(no_key=True).get(pk=ticket.pk)
        if ticket.customer_id != customer.pk:
            raise DomainError("This ticket belongs to another customer.", code="invalid_ticket")
        if ticket.status in TICKET_CLOSED_STATUSES:
            raise DomainError(f"Ticket {ticket.public_id} is {ticket.get_status_display().lower()}; reopen it "
                              f"before escalating it.", code="ticket_closed")
    if existing := _open_escalation(customer, ticket):
        raise AlreadyEscalated(existing)
    now = timezone.now()
    try:
        with transaction.atomic():  # the unique index is the backstop if a writer skipped the customer lock
            escalation = Escalation.objects.create(customer=customer, ticket=ticket, reason=reason, note=note,
                                                   raised_by=actor if actor.is_authenticated else None, raised_at=now)
    except IntegrityError:
        if existing := _open_escalation(customer, ticket):
            raise AlreadyEscalated(existing) from None
        raise DomainError("Somebody escalated this at the same moment; reload to see it.",
                          code="already_escalated") from None
    if ticket is not None and ticket.status != Ticket.Status.ESCALATED:
        ticket.status = Ticket.Status.ESCALATED
        ticket.save(update_fields=["status", "updated_at"])
    _refresh_marker(customer)
    label = escalation.get_reason_display()
    subject = f"Ticket {ticket.public_id}" if ticket else "Customer"
    audit_record(actor=actor, action="support.escalation.raised", customer=customer, obj=escalation,
                 data={"escalation": escalation.public_id, "reason": reason,
                       "ticket": ticket.public_id if ticket else None, "note_length": len(note)},
                 timeline=Timeline(ActivityEvent.Kind.SUPPORT, f"{subject} escalated to a manager: {label}",
                                   {"escalation": escalation.public_id,
                                    **({"ticket": ticket.public_id} if ticket else {})}))
    return escalation


@transaction.atomic
def escalation_resolve(*, escalation: Escalation, note: str, actor) -> Escalation:
    """Close the escalation with the manager's note; a ticket it escalated goes back to open. Managers only."""
    if not has_capability(actor, Cap.RESOLVE_ESCALATIONS):
        raise DomainError("Only a manager can resolve escalations.", code="forbidden")
    note = _clean_note(note, required=True, what="a resolution note (what was decided)")
    customer = Customer.objects.select_for_update(no_key=True).get(pk=escalation.customer_id)
    ticket = (Ticket.objects.select_for_update(no_key=True).get(pk=escalation.ticket_id) if escalation.ticket_id else None)
    escalation = Escalation.objects.select_for_update(of=("self",), no_key=True).select_related("resolved_by").get(
        pk=escalation.pk)
    if not escalation.is_open:
        raise AlreadyResolved(escalation)
    escalation.status = Escalation.Status.RESOLVED
    escalation.resolved_by = actor
    escalation.resolved_at = timezone.now()
    escalation.resolution_note = note
    escalation.save(update_fields=["status", "resolved_by", "resolved_at", "resolution_note"])
    if ticket is not None and ticket.status == Ticket.Status.ESCALATED:
        ticket.status = Ticket.Status.OPEN
        ticket.save(update_fields=["status", "updated_at"])
    _refresh_marker(customer)
    subject = f"Escalation of ticket {ticket.public_id}" if ticket else "Escalation"
    audit_record(actor=actor, action="support.escalation.resolved", customer=customer, obj=escalation,
                 data={"escalation": escalation.public_id, "reason": escalation.reason,
                       "ticket": ticket.public_id if ticket else None, "note_length": len(note)},
                 timeline=Timeline(ActivityEvent.Kind.SUPPORT,
                                   f"{subject} resolved by {actor.get_username()}",
                                   {"escalation": escalation.public_id,
                                    **({"ticket": ticket.public_id} if ticket else {})}))
    return escalation
