"""Delivery, at most once: a message goes to the mail server once even when its task runs twice or two workers
race for it; transient errors leave it queued for a retry, permanent ones fail it, an unclear outcome is never
resent; the recovery job fails messages stuck in `sending` and re-sends lost tasks of queued ones."""

import smtplib
import threading
from datetime import timedelta
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.db import connection
from django.utils import timezone

from customers.models import ActivityEvent, Customer
from portal.models import AuditEvent
from portal.roles import sync_roles
from support import services
from support.models import EmailMessage
from support.tasks import email_deliver
from tests.support.backends import ScriptedBackend
from tests.support.factories import EmailMessageFactory


@pytest.fixture
def backend(settings):
    settings.EMAIL_BACKEND = "tests.support.backends.ScriptedBackend"
    ScriptedBackend.reset()
    yield ScriptedBackend
    ScriptedBackend.reset()


@pytest.mark.django_db
def test_running_the_task_twice_sends_once(backend):
    message = EmailMessageFactory()
    assert email_deliver(message.pk) == "sent"
    assert email_deliver(message.pk) == "skipped"
    message.refresh_from_db()
    assert (message.status, message.attempts, len(backend.sent)) == ("sent", 1, 1)
    assert backend.sent[0].to == [message.to_address] and backend.sent[0].alternatives[0][1] == "text/html"


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_message_send_it_once(backend):
    sync_roles()  # the flush after a transactional test empties the role groups; later tests need them
    backend.delay = 0.5  # the first claim is still sending when the second worker looks
    message = EmailMessageFactory()
    start = threading.Barrier(4)
    outcomes = []

    def worker():
        try:
            start.wait()
            outcomes.append(services.email_message_deliver(message.pk).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["sent", "skipped", "skipped", "skipped"]
    assert len(backend.sent) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)


@pytest.mark.django_db
@pytest.mark.parametrize("where, error, reason", [
    ("open", ConnectionRefusedError(111, "Connection refused"), "Connection refused"),
    ("open", TimeoutError("timed out"), "TimeoutError: timed out"),
    ("open", smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "Connection unexpectedly closed"),
    ("send", smtplib.SMTPRecipientsRefused({"ann@example.com": (450, b"4.2.1 Mailbox busy, try later")}),
     "450 4.2.1 Mailbox busy"),
    ("send", smtplib.SMTPDataError(421, b"4.3.0 Try again later"), "answered 421 4.3.0 Try again later"),
])
def test_a_transient_error_leaves_the_message_queued_with_the_reason_and_a_retry(where, error, reason, backend):
    setattr(backend, f"{where}_error", error)
    message = EmailMessageFactory()
    with mock.patch.object(email_deliver, "retry", side_effect=Retry("retry")) as retry, pytest.raises(Retry):
        email_deliver(message.pk)
    assert retry.call_args.kwargs["countdown"] == 60
    message.refresh_from_db()
    assert (message.status, message.attempts, backend.sent) == ("queued", 1, [])
    assert reason in message.error
    assert timezone.now() + timedelta(seconds=50) < message.next_attempt_at < timezone.now() + timedelta(seconds=70)
    assert not ActivityEvent.objects.filter(action__in=["email.sent", "email.failed"]).exists()


@pytest.mark.django_db
def test_retries_back_off_and_give_up_after_the_configured_attempts(backend, settings):
    settings.EMAIL_MAX_ATTEMPTS = 3
    backend.open_error = ConnectionRefusedError(111, "Connection refused")
    message = EmailMessageFactory()
    delays = []
    for _ in range(3):
        delivery = services.email_message_deliver(message.pk)
        delays.append(delivery.retry_in)
    assert delays == [60, 120, None]
    message.refresh_from_db()
    assert message.status == "failed" and message.attempts == 3
    assert message.error.startswith("Gave up after 3 attempts. Last error:") and "Connection refused" in message.error
    assert services.email_message_deliver(message.pk).status == "skipped"


@pytest.mark.django_db
@pytest.mark.parametrize("error, reason", [
    (smtplib.SMTPRecipientsRefused({"ann@example.com": (550, b"5.1.1 No such user")}), "No such user"),
    (smtplib.SMTPDataError(554, b"5.7.1 Message rejected as spam"), "rejected as spam"),
    (smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not allowed", "support@example.com"), "Sender not allowed"),
])
def test_a_permanent_error_fails_the_message_with_the_reason(error, reason, backend):
    backend.send_error = error
    message = EmailMessageFactory()
    assert email_deliver(message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == "failed" and reason in message.error and message.attempts == 1
    event = AuditEvent.objects.get(action="support.email.failed")
    assert event.data == {"template": message.template.code, "attempts": 1}  # no address, no server text
    assert "failed" in ActivityEvent.objects.get(action="email.failed").summary


@pytest.mark.django_db
@pytest.mark.parametrize("error", [smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
                                   TimeoutError("timed out")])
def test_a_connection_lost_while_sending_is_an_unknown_outcome_and_never_resent(error, backend):
    backend.send_error = error
    message = EmailMessageFactory()
    assert email_deliver(message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == "failed" and message.error.startswith("Delivery outcome unknown")
    backend.send_error = None
    assert email_deliver(message.pk) == "skipped" and backend.sent == []


@pytest.mark.django_db
def test_an_email_to_a_customer_erased_meanwhile_is_not_sent(backend):
    message = EmailMessageFactory()
    Customer.objects.filter(pk=message.customer_id).update(status=Customer.Status.ERASED)
    assert email_deliver(message.pk) == "failed"
    assert backend.sent == []


# ---- Recovery (beat) -------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_message_stuck_in_sending_is_failed_as_unknown_and_not_resent(backend, django_capture_on_commit_callbacks):
    stuck = EmailMessageFactory(status="sending", attempts=1, sending_since=timezone.now() - timedelta(minutes=20))
    busy = EmailMessageFactory(status="sending", attempts=1, sending_since=timezone.now() - timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.email_messages_recover() == {"failed_unknown": 1, "requeued": 0}
    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert stuck.status == "failed" and stuck.error.startswith("Delivery outcome unknown")
    assert busy.status == "sending" and backend.sent == []
    assert email_deliver(stuck.pk) == "skipped"


@pytest.mark.django_db
def test_a_worker_that_finishes_after_the_recovery_gave_up_records_the_truth(backend):
    message = EmailMessageFactory()
    claimed = services._claim(message.pk)
    EmailMessage.objects.filter(pk=message.pk).update(sending_since=timezone.now() - timedelta(hours=1))
    services.email_messages_recover()
    assert EmailMessage.objects.get(pk=message.pk).status == "failed"
    services._transfer(claimed)
    assert services._finish(claimed, "sent", "").status == "sent"
    message.refresh_from_db()
    assert message.status == "sent" and message.error == "" and len(backend.sent) == 1


@pytest.mark.django_db
def test_a_queued_message_whose_task_was_lost_gets_a_new_one(backend, django_capture_on_commit_callbacks):
    lost = EmailMessageFactory(next_attempt_at=timezone.now() - timedelta(minutes=30))
    fresh = EmailMessageFactory()
    retrying = EmailMessageFactory(next_attempt_at=timezone.now() + timedelta(minutes=5), attempts=1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.email_messages_recover() == {"failed_unknown": 0, "requeued": 1}
    assert len(callbacks) == 1
    assert [m.to for m in backend.sent] == [[lost.to_address]]
    assert {m.pk: m.status for m in EmailMessage.objects.all()} == {lost.pk: "sent", fresh.pk: "queued",
                                                                    retrying.pk: "queued"}
    with django_capture_on_commit_callbacks(execute=True):  # a second run finds nothing to do
        assert services.email_messages_recover() == {"failed_unknown": 0, "requeued": 0}
