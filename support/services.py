"""Emails to customers (queue one and deliver it, at most once) and tickets (open, comment, move, assign; below).

`email_send` renders the template for the customer and writes the EmailMessage in the caller's transaction, with
its audit row and timeline event; the delivery task is sent when that transaction commits, with the message's id
only. Delivery (`email_message_deliver`, run by support.tasks) never holds a lock across the network call:

1. claim: one short transaction moves the message queued → sending (SELECT … FOR UPDATE SKIP LOCKED of a *queued*
   row). A second task for the same message, a re-run, or a second worker finds it no longer queued and stops, so
   a message is handed to the mail server at most once;
2. send through Django's email backend (EMAIL_URL), outside any transaction;
3. record the outcome: sent (with the Message-ID), back to queued for a transient error (the server was
   unreachable, or answered 4xx: it took nothing) with the reason and the time of the retry, or failed for a
   permanent one (5xx, a refused recipient) with the reason.

An error *while* the message was being transferred (the connection dropped or timed out after the server started
reading it) leaves its fate unknown: the server may have accepted it. It is marked failed ("delivery outcome
unknown") and not resent; so is a message left in `sending` by a worker that died (`email_messages_recover`).
An agent can send it again after checking with the customer. Resending blindly would break "at most once".
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email.utils import make_msgid

import structlog
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.utils import timezone

from customers.models import ActivityEvent, Customer
from portal.audit import Timeline, audit_record
from portal.errors import DomainError
from privacy.selectors import has_email_marketing_consent
from support.email_context import RenderedEmail, TemplateProblem, email_values, render_email
from payments.models import Payment
from support import rules
from support.models import EmailMessage, EmailTemplate, Ticket, TicketComment
from support.policy import email_refusal

logger = structlog.get_logger(__name__)
ERROR_MAX_LENGTH = EmailMessage._meta.get_field("error").max_length


# ---- Queueing --------------------------------------------------------------------------------------------------

def active_template(code: str) -> EmailTemplate:
    template = EmailTemplate.objects.filter(code=code, active=True).first() if isinstance(code, str) else None
    if template is None:
        raise DomainError(f"There is no active email template with the code “{str(code)[:60]}”.",
                          code="unknown_template")
    return template


def email_render(*, template: EmailTemplate, customer: Customer, agent, extra_context: dict | None = None
                 ) -> RenderedEmail:
    """The email as this customer would get it. Raises DomainError naming an unknown variable."""
    try:
        return render_email(template, email_values(customer, agent=agent, extra=extra_context))
    except TemplateProblem as exc:
        raise DomainError(f"“{template.name}” cannot be sent: {exc.message}", code=exc.code)


@transaction.atomic
def email_send(*, customer: Customer, template_code: str, actor, extra_context: dict | None = None) -> EmailMessage:
    """Queue the template `template_code` for the customer; delivered after commit by support.tasks.email_deliver.

    Refused (DomainError, nothing written) for an erased customer, an unknown or inactive template, a marketing
    template without email-marketing consent, or a template that does not render (an unknown variable, a
    ticket value that `extra_context` does not carry).
    """
    template = active_template(template_code)
    # FOR NO KEY UPDATE, like every lock on a customer taken next to an audit write: see _lock_customer below.
    customer = Customer.objects.select_for_update(of=("self",), no_key=True).select_related("plan").get(pk=customer.pk)
    refusal = email_refusal(template, customer, marketing_consent=template.marketing
                            and has_email_marketing_consent(customer))
    if refusal:
        raise DomainError(refusal, code="email_refused")
    rendered = email_render(template=template, customer=customer, agent=actor, extra_context=extra_context)
    now = timezone.now()
    message = EmailMessage.objects.create(
        customer=customer, template=template, to_address=customer.email, subject=rendered.subject[:255],
        text_body=rendered.text, html_body=rendered.html, created_at=now, next_attempt_at=now,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    # The address, subject and body stay in the (erasable) message row; the audit row names the template.
    audit_record(actor=actor, action="support.email.queued", customer=customer, obj=message,
                 data={"template": template.code},
                 timeline=Timeline(ActivityEvent.Kind.SUPPORT, f"Email “{template.name}” queued",
                                   {"email": message.public_id, "template": template.code}))
    _deliver_after_commit([message.pk])
    return message


def _deliver_after_commit(message_ids: list[int]) -> None:
    from support.tasks import email_deliver

    for message_id in message_ids:
        transaction.on_commit(lambda message_id=message_id: email_deliver.delay(message_id))


# ---- Delivery --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    """What one delivery run did: `status` is the message's status afterwards ("skipped": not ours to send)."""

    status: str
    retry_in: int | None = None  # seconds, when a retry is due
    error: str = ""


class _Transient(Exception):
    pass


class _Permanent(Exception):
    pass


class _Unknown(Exception):
    pass


def _smtp_code(exc) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return max(codes) if codes else None
    return getattr(exc, "smtp_code", None)


def _reason(exc) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(f"{code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
                         for code, msg in exc.recipients.values())
        return f"The recipient was refused: {text}"
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"The mail server answered {exc.smtp_code} {message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _classify_connect(exc: Exception) -> Exception:
    """Opening the connection failed: nothing was sent, so it can be tried again (unless the server said 5xx to
    our greeting or login: retrying will not help, but a fixed configuration will; still within max attempts)."""
    return _Transient(_reason(exc))


def _classify_send(exc: Exception) -> Exception:
    code = _smtp_code(exc)
    if code is not None and 400 <= code < 500:
        return _Transient(_reason(exc))  # the server refused for now and kept nothing
    if code is not None and code >= 500:
        return _Permanent(_reason(exc))
    if isinstance(exc, (smtplib.SMTPServerDisconnected, OSError)):
        return _Unknown(f"Delivery outcome unknown: the connection failed while the message was being sent "
                        f"({_reason(exc)}); not resent, so the customer never gets it twice.")
    return _Unknown(f"Delivery outcome unknown: {_reason(exc)}; not resent.")


def _claim(message_id: int) -> EmailMessage | None:
    """queued → sending, in one short transaction. None when the message is not queued (sent, failed, being
    sent by another worker) or is locked by someone claiming it right now."""
    with transaction.atomic():
        message = (EmailMessage.objects.select_for_update(skip_locked=True, of=("self",), no_key=True)
                   .select_related("customer", "template").filter(pk=message_id, status=EmailMessage.Status.QUEUED)
                   .first())
        if message is None:
            return None
        message.status = EmailMessage.Status.SENDING
        message.attempts += 1
        message.sending_since = timezone.now()
        if not message.provider_message_id:  # the same Message-ID on every attempt
            domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
            message.provider_message_id = make_msgid(domain=domain)
        message.save(update_fields=["status", "attempts", "sending_since", "provider_message_id"])
    return message


def _email(message: EmailMessage) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(subject=message.subject, body=message.text_body,
                                   from_email=settings.DEFAULT_FROM_EMAIL, to=[message.to_address],
                                   headers={"Message-ID": message.provider_message_id})
    email.attach_alternative(message.html_body, "text/html")
    return email


def _transfer(message: EmailMessage) -> None:
    """Hand the message to the email backend. Raises _Transient, _Permanent or _Unknown."""
    try:
        email = _email(message)
        email.message()  # build it first: a message that cannot be built is nobody's network problem
    except Exception as exc:  # noqa: BLE001 (anything: the row records it)
        raise _Permanent(f"The message could not be built: {_reason(exc)}")
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except Exception as exc:  # noqa: BLE001 (refused, timed out, TLS, login: nothing was sent)
        raise _classify_connect(exc)
    try:
        sent = connection.send_messages([email])
    except Exception as exc:  # noqa: BLE001
        raise _classify_send(exc)
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 (the message is already handed over, or not: decided above)
            pass
    if sent != 1:
        raise _Unknown("Delivery outcome unknown: the email backend reported nothing sent; not resent.")


def email_message_deliver(message_id: int) -> Delivery:
    """Deliver one queued message at most once (see the module docstring). Safe to call any number of times."""
    message = _claim(message_id)
    if message is None:
        return Delivery("skipped")
    if message.customer.status == Customer.Status.ERASED:
        return _finish(message, EmailMessage.Status.FAILED,
                       "Not sent: the customer's personal data was erased before it went out.")
    try:
        _transfer(message)
    except _Transient as exc:
        if message.attempts >= settings.EMAIL_MAX_ATTEMPTS:
            return _finish(message, EmailMessage.Status.FAILED,
                           f"Gave up after {message.attempts} attempts. Last error: {exc}")
        return _requeue(message, str(exc))
    except _Permanent as exc:
        return _finish(message, EmailMessage.Status.FAILED, str(exc))
    except _Unknown as exc:
        return _finish(message, EmailMessage.Status.FAILED, str(exc))
    return _finish(message, EmailMessage.Status.SENT, "")


def retry_delay(attempts: int) -> int:
    """Seconds before the next attempt: EMAIL_RETRY_SECONDS, doubling with each attempt, at most a day."""
    return min(settings.EMAIL_RETRY_SECONDS * 2 ** max(attempts - 1, 0), 24 * 60 * 60)


def _requeue(message: EmailMessage, reason: str) -> Delivery:
    delay = retry_delay(message.attempts)
    updated = EmailMessage.objects.filter(pk=message.pk, status=EmailMessage.Status.SENDING,
                                          attempts=message.attempts).update(
        status=EmailMessage.Status.QUEUED, error=reason[:ERROR_MAX_LENGTH], sending_since=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay))
    logger.info("email.retry_scheduled", email=message.public_id, attempts=message.attempts, retry_in=delay)
    if not updated:  # the recovery job gave up on it meanwhile: leave its verdict
        return Delivery("skipped")
    return Delivery(EmailMessage.Status.QUEUED, retry_in=delay, error=reason)


@transaction.atomic
def _finish(message: EmailMessage, status: str, error: str) -> Delivery:
    """Record the outcome of this attempt. A message the recovery job marked "outcome unknown" meanwhile is
    corrected to sent when it was sent after all (the truth is known now); otherwise its verdict stands."""
    now = timezone.now()
    allowed = [EmailMessage.Status.SENDING] + ([EmailMessage.Status.FAILED] if status == "sent" else [])
    updated = EmailMessage.objects.filter(pk=message.pk, status__in=allowed, attempts=message.attempts).update(
        status=status, error=error[:ERROR_MAX_LENGTH], sent_at=now if status == "sent" else None)
    if not updated:
        return Delivery("skipped")
    _record_outcome(message, status)
    logger.info("email.delivered" if status == "sent" else "email.failed", email=message.public_id,
                attempts=message.attempts)
    return Delivery(status, error=error)


def _record_outcome(message: EmailMessage, status: str) -> None:
    template = message.template
    summary = (f"Email “{template.name}” sent" if status == "sent"
               else f"Email “{template.name}” failed (see the Emails tab)")
    # The error text can quote the address, so only the message id and template go into the audit row.
    audit_record(actor=None, action=f"support.email.{status}", customer=message.customer, obj=message,
                 data={"template": template.code, "attempts": message.attempts},
                 timeline=Timeline(ActivityEvent.Kind.SUPPORT, summary,
                                   {"email": message.public_id, "template": template.code}))


# ---- Recovery (beat) -------------------------------------------------------------------------------------------

RECOVER_BATCH = 1000


def email_messages_recover() -> dict[str, int]:
    """Run by beat every few minutes; idempotent and safe to run late or twice.

    - A message in `sending` for longer than EMAIL_SENDING_TIMEOUT_MINUTES belongs to a worker that died or hung
      mid-send: it may or may not have reached the server, so it is marked failed ("delivery outcome unknown"),
      never sent again.
    - A message `queued` and due for longer than EMAIL_REQUEUE_AFTER_MINUTES has lost its task (the embedded
      broker does not redeliver a task whose worker died): it gets a new one. Two tasks for one message are
      harmless: only one can claim it.
    """
    now = timezone.now()
    stuck_before = now - timedelta(minutes=settings.EMAIL_SENDING_TIMEOUT_MINUTES)
    failed = 0
    with transaction.atomic():
        stuck = list(EmailMessage.objects.select_for_update(skip_locked=True, of=("self",), no_key=True)
                     .select_related("customer", "template")
                     .filter(status=EmailMessage.Status.SENDING, sending_since__lt=stuck_before)[:RECOVER_BATCH])
        for message in stuck:
            message.status = EmailMessage.Status.FAILED
            message.error = ("Delivery outcome unknown: the worker stopped while sending it. Not resent, so the "
                             "customer never gets it twice; send it again if they did not receive it.")
            message.save(update_fields=["status", "error"])
            _record_outcome(message, EmailMessage.Status.FAILED)
            failed += 1
    overdue_before = now - timedelta(minutes=settings.EMAIL_REQUEUE_AFTER_MINUTES)
    with transaction.atomic():
        lost = list(EmailMessage.objects.select_for_update(skip_locked=True, of=("self",), no_key=True)
                    .filter(status=EmailMessage.Status.QUEUED, next_attempt_at__lt=overdue_before)
                    .values_list("pk", flat=True)[:RECOVER_BATCH])
        EmailMessage.objects.filter(pk__in=lost).update(next_attempt_at=now)
        _deliver_after_commit(lost)
    if failed or lost:
        logger.info("email.recovered", failed_unknown=failed, requeued=len(lost))
    return {"failed_unknown": failed, "requeued": len(lost)}


# ---- Tickets ---------------------------------------------------------------------------------------------------
#
# Each ticket action is one transaction that locks the customer, then the ticket (always in that order, so two
# actions on one ticket queue up instead of deadlocking), checks the rules of support/rules.py on the locked rows,
# changes them, and records the change with audit_record: the audit row holds ids, codes and lengths, never the
# subject or the text of a message; the customer's timeline event names the ticket and links to it.

TICKET_SUBJECT_MAX_LENGTH = Ticket._meta.get_field("subject").max_length
TICKET_TEXT_MAX_LENGTH = 10_000
TICKET_REPLY_TEMPLATE = "ticket-reply"  # the EmailTemplate a public reply is sent with


def _agent(actor):
    return actor if actor is not None and actor.is_authenticated else None


def _text(value: str, *, what: str, max_length: int, code: str) -> str:
    text = (value or "").replace("\r\n", "\n").strip()
    if not text:
        raise DomainError(f"Write the {what} first.", code=code)
    if len(text) > max_length:
        raise DomainError(f"The {what} is at most {max_length:,} characters; this one has {len(text):,}.", code=code)
    return text


def _priority(value: str) -> str:
    if value not in Ticket.Priority.values:
        raise DomainError(f"“{str(value)[:40]}” is not a priority; use one of: {', '.join(rules.PRIORITIES)}.",
                          code="invalid_priority")
    return value


def _lock_customer(customer_id: int) -> Customer:
    """FOR NO KEY UPDATE: it serialises the writers of this customer as FOR UPDATE would, but does not block the
    foreign-key checks (FOR KEY SHARE) of rows that merely point at the customer. Django's foreign keys are checked
    at commit, after the audit insert took the audit chain's lock; with FOR UPDATE, a transaction holding this
    row and waiting for the chain lock deadlocks with one holding the chain lock and checking a key to this row
    (an email delivery recording its outcome, for one)."""
    return Customer.objects.select_for_update(no_key=True).get(pk=customer_id)


def _lock_ticket(ticket: Ticket) -> tuple[Customer, Ticket]:
    customer = _lock_customer(ticket.customer_id)
    return customer, Ticket.objects.select_for_update(no_key=True).get(pk=ticket.pk)


def _refuse_if_closed(ticket: Ticket) -> None:
    if rules.is_read_only(ticket.status):
        raise DomainError(rules.CLOSED_FOR_GOOD, code="ticket_closed")


def _ticket_timeline(ticket: Ticket, summary: str, **payload) -> Timeline:
    return Timeline(ActivityEvent.Kind.SUPPORT, summary, {"ticket": ticket.public_id, **payload})


def _may_work_tickets(user) -> bool:
    from portal.roles import Cap, has_capability

    return has_capability(user, Cap.MANAGE_TICKETS)


@transaction.atomic
def ticket_open(*, customer: Customer, subject: str, description: str, actor, priority: str = "normal",
                payment: Payment | None = None, activity_event: ActivityEvent | None = None) -> Ticket:
    """Open a ticket for the customer, optionally about one of their payments and/or timeline events. Its first
    reply is due after the priority's response target (support/rules.py)."""
    subject = " ".join(_text(subject, what="subject", max_length=TICKET_SUBJECT_MAX_LENGTH,
                             code="invalid_subject").split())
    description = _text(description, what="description", max_length=TICKET_TEXT_MAX_LENGTH,
                        code="invalid_description")
    priority = _priority(priority)
    customer = _lock_customer(customer.pk)
    if customer.status == Customer.Status.ERASED:
        raise DomainError("This customer's personal data has been erased, so no ticket can be opened for them.",
                          code="customer_erased")
    if payment is not None and payment.customer_id != customer.pk:
        raise DomainError("That payment belongs to another customer.", code="invalid_payment")
    if activity_event is not None and activity_event.customer_id != customer.pk:
        raise DomainError("That timeline event belongs to another customer.", code="invalid_event")
    now = timezone.now()
    ticket = Ticket.objects.create(
        customer=customer, subject=subject, description=description, priority=priority, status=Ticket.Status.OPEN,
        created_by=_agent(actor), created_at=now, payment=payment, activity_event=activity_event,
        due_at=rules.reply_due_at(created_at=now, priority=priority),
    )
    about = {"payment": payment.public_id} if payment is not None else {}
    summary = f"Ticket {ticket.public_id} opened ({ticket.get_priority_display().lower()} priority)"
    if payment is not None:
        summary += f" about payment {payment.public_id}"
    audit_record(actor=actor, action="support.ticket.opened", customer=customer, obj=ticket,
                 data={"priority": priority, "subject_length": len(subject), "description_length": len(description),
                       **about, **({"event": activity_event.pk} if activity_event is not None else {})},
                 timeline=_ticket_timeline(ticket, summary, **about))
    return ticket


@transaction.atomic
def ticket_comment_add(*, ticket: Ticket, body: str, public: bool, actor) -> TicketComment:
    """Add to the conversation: an internal note (portal users only) or a public reply, which is emailed to the
    customer (the `ticket-reply` template, queued in this transaction, delivered after commit) and stops the
    reply clock. Nothing is written when the email is refused (erased customer, no active template)."""
    body = _text(body, what="reply" if public else "note", max_length=TICKET_TEXT_MAX_LENGTH,
                 code="invalid_comment")
    customer, ticket = _lock_ticket(ticket)
    _refuse_if_closed(ticket)
    now = timezone.now()
    comment = TicketComment(ticket=ticket, author=_agent(actor), body=body, public=bool(public), created_at=now)
    changed = ["updated_at"]
    if public:
        comment.email = email_send(customer=customer, template_code=TICKET_REPLY_TEMPLATE, actor=actor,
                                   extra_context={"ticket_subject": ticket.subject, "reply_body": body})
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            changed.append("first_response_at")
        if ticket.due_at is not None:
            ticket.due_at = None
            changed.append("due_at")
    comment.save()
    ticket.save(update_fields=changed)
    kind = "reply" if public else "note"
    audit_record(actor=actor, action=f"support.ticket.{'replied' if public else 'note_added'}", customer=customer,
                 obj=ticket, data={"comment": comment.pk, "public": bool(public), "length": len(body),
                                   **({"email": comment.email.public_id} if comment.email else {})},
                 timeline=_ticket_timeline(
                     ticket, f"{'Reply emailed' if public else 'Internal note added'} on ticket {ticket.public_id}",
                     comment=comment.pk, kind=kind))
    return comment


@transaction.atomic
def ticket_status_change(*, ticket: Ticket, status: str, actor) -> Ticket:
    """Move the ticket by hand as support/rules.py TRANSITIONS allows (never into or out of escalated: the
    escalation does that). Pending, solved and closed stop a running reply clock."""
    customer, ticket = _lock_ticket(ticket)
    verdict = rules.move(ticket.status, status)
    if not verdict.allowed:
        raise DomainError(verdict.sentence, code="transition_refused")
    before = ticket.status
    ticket.status = status
    changed = ["status", "updated_at"]
    if ticket.due_at is not None and rules.clock_stops(status=status):
        ticket.due_at = None
        changed.append("due_at")
    ticket.save(update_fields=changed)
    labels = dict(Ticket.Status.choices)
    audit_record(actor=actor, action="support.ticket.status_changed", customer=customer, obj=ticket,
                 before={"status": before}, after={"status": status},
                 timeline=_ticket_timeline(ticket, f"Ticket {ticket.public_id}: {labels[before]} → {labels[status]}",
                                           status=status))
    return ticket


@transaction.atomic
def ticket_priority_change(*, ticket: Ticket, priority: str, actor) -> Ticket:
    """Change the priority; a running reply clock is re-aimed at created_at + the new target."""
    priority = _priority(priority)
    customer, ticket = _lock_ticket(ticket)
    _refuse_if_closed(ticket)
    if ticket.priority == priority:
        raise DomainError(f"The ticket is already {ticket.get_priority_display().lower()} priority.",
                          code="unchanged")
    before = ticket.priority
    ticket.priority = priority
    changed = ["priority", "updated_at"]
    if ticket.due_at is not None:
        ticket.due_at = rules.reply_due_at(created_at=ticket.created_at, priority=priority)
        changed.append("due_at")
    ticket.save(update_fields=changed)
    labels = dict(Ticket.Priority.choices)
    audit_record(actor=actor, action="support.ticket.priority_changed", customer=customer, obj=ticket,
                 before={"priority": before}, after={"priority": priority},
                 timeline=_ticket_timeline(ticket, f"Ticket {ticket.public_id} priority: {labels[before]} → "
                                                   f"{labels[priority]}", priority=priority))
    return ticket


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee, actor) -> Ticket:
    """Give the ticket to an agent (anyone whose role may manage tickets), or to nobody (`assignee` None)."""
    if assignee is not None and (not assignee.is_active or not _may_work_tickets(assignee)):
        raise DomainError(f"{assignee.get_username()} cannot work on tickets: their role does not allow it.",
                          code="invalid_assignee")
    customer, ticket = _lock_ticket(ticket)
    _refuse_if_closed(ticket)
    if ticket.assignee_id == (assignee.pk if assignee is not None else None):
        raise DomainError("The ticket is already unassigned." if assignee is None
                          else f"The ticket is already assigned to {assignee.get_username()}.", code="unchanged")
    before = ticket.assignee_id
    ticket.assignee = assignee
    ticket.save(update_fields=["assignee", "updated_at"])
    summary = (f"Ticket {ticket.public_id} assigned to {assignee.get_username()}" if assignee is not None
               else f"Ticket {ticket.public_id} unassigned")
    audit_record(actor=actor, action="support.ticket.assigned", customer=customer, obj=ticket,
                 before={"assignee": before}, after={"assignee": assignee.pk if assignee is not None else None},
                 timeline=_ticket_timeline(ticket, summary))
    return ticket
