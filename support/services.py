"""Emails to customers: queue one (the only write an agent makes) and deliver it, at most once.

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
from support.models import EmailMessage, EmailTemplate
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
    customer = Customer.objects.select_for_update(of=("self",)).select_related("plan").get(pk=customer.pk)
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
        message = (EmailMessage.objects.select_for_update(skip_locked=True, of=("self",))
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
        stuck = list(EmailMessage.objects.select_for_update(skip_locked=True, of=("self",))
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
        lost = list(EmailMessage.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(status=EmailMessage.Status.QUEUED, next_attempt_at__lt=overdue_before)
                    .values_list("pk", flat=True)[:RECOVER_BATCH])
        EmailMessage.objects.filter(pk__in=lost).update(next_attempt_at=now)
        _deliver_after_commit(lost)
    if failed or lost:
        logger.info("email.recovered", failed_unknown=failed, requeued=len(lost))
    return {"failed_unknown": failed, "requeued": len(lost)}
