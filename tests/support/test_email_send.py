"""email_send: one transaction that writes the message, the audit row and the timeline event; refusals change
nothing; the delivery task is sent on commit and delivers through the email backend."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from customers.models import ActivityEvent, Customer
from portal.errors import DomainError
from portal.models import AuditEvent
from support.models import EmailMessage
from support.services import email_send
from tests.factories import CustomerFactory, PlanFactory, SubscriptionFactory
from tests.support.factories import ConsentFactory, EmailTemplateFactory

pytestmark = pytest.mark.django_db


def test_it_queues_the_email_and_delivers_it_after_commit(agent, django_capture_on_commit_callbacks):
    plan = PlanFactory(code="pro", name="Pro Monthly")
    customer = CustomerFactory(first_name="Ann", last_name="Lee", email="ann@example.com", plan=plan)
    SubscriptionFactory(customer=customer, plan=plan)
    template = EmailTemplateFactory(code="hello", name="Hello")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = email_send(customer=customer, template_code="hello", actor=agent)
    assert len(callbacks) == 1
    message.refresh_from_db()
    assert (message.status, message.to_address, message.subject, message.template) == (
        "queued", "ann@example.com", "Hello Ann", template)
    assert "Hi Ann Lee," in message.text_body and "Your plan: Pro Monthly." in message.text_body
    assert message.created_by == agent and message.public_id.startswith("eml_")
    event = AuditEvent.objects.get(action="support.email.queued")
    assert event.data == {"template": "hello"} and event.object_id == message.public_id
    timeline = ActivityEvent.objects.get(customer=customer, action="email.queued")
    assert timeline.summary == "Email “Hello” queued" and timeline.kind == "support"

    callbacks[0]()  # the commit: the (eager) task delivers it
    message.refresh_from_db()
    assert message.status == "sent" and message.attempts == 1 and message.sent_at is not None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ann@example.com"]
    assert mail.outbox[0].extra_headers["Message-ID"] == message.provider_message_id
    assert ActivityEvent.objects.get(customer=customer, action="email.sent").summary == "Email “Hello” sent"


def _refused(customer, code, agent, django_capture_on_commit_callbacks, **kwargs) -> DomainError:
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(DomainError) as caught:
        email_send(customer=customer, template_code=code, actor=agent, **kwargs)
    assert callbacks == []
    assert not EmailMessage.objects.exists() and not AuditEvent.objects.filter(action__startswith="support").exists()
    assert not ActivityEvent.objects.filter(action__startswith="email").exists() and mail.outbox == []
    return caught.value


def test_an_unknown_variable_is_refused_and_nothing_is_queued(agent, django_capture_on_commit_callbacks):
    EmailTemplateFactory(code="typo", name="Typo", body="Hi {{ frist_name }}")  # saved around the admin's form
    error = _refused(CustomerFactory(), "typo", agent, django_capture_on_commit_callbacks)
    assert error.code == "unknown_variable" and "“frist_name”" in error.message and "Typo" in error.message


def test_a_marketing_template_needs_email_marketing_consent(agent, django_capture_on_commit_callbacks):
    EmailTemplateFactory(code="news", marketing=True)
    customer = CustomerFactory()
    error = _refused(customer, "news", agent, django_capture_on_commit_callbacks)
    assert "not agreed to marketing by email" in error.message


def test_the_latest_consent_record_decides(agent, django_capture_on_commit_callbacks):
    EmailTemplateFactory(code="news", marketing=True)
    customer = CustomerFactory()
    ConsentFactory(customer=customer, granted=True, recorded_at=timezone.now() - timedelta(days=30))
    ConsentFactory(customer=customer, granted=False, recorded_at=timezone.now() - timedelta(days=1))
    ConsentFactory(customer=customer, granted=True, channel="sms")  # another channel decides nothing
    _refused(customer, "news", agent, django_capture_on_commit_callbacks)


def test_a_marketing_template_goes_to_a_customer_who_consented(agent, django_capture_on_commit_callbacks):
    EmailTemplateFactory(code="news", marketing=True)
    customer = CustomerFactory()
    ConsentFactory(customer=customer, granted=False, recorded_at=timezone.now() - timedelta(days=30))
    ConsentFactory(customer=customer, granted=True)
    with django_capture_on_commit_callbacks(execute=True):
        message = email_send(customer=customer, template_code="news", actor=agent)
    message.refresh_from_db()
    assert message.status == "sent"


def test_transactional_mail_ignores_marketing_consent(agent, django_capture_on_commit_callbacks):
    EmailTemplateFactory(code="card", marketing=False)
    customer = CustomerFactory()
    ConsentFactory(customer=customer, granted=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert email_send(customer=customer, template_code="card", actor=agent).pk


def test_an_erased_customer_cannot_be_emailed(agent, django_capture_on_commit_callbacks):
    EmailTemplateFactory(code="hello")
    customer = CustomerFactory(status=Customer.Status.ERASED)
    assert "erased" in _refused(customer, "hello", agent, django_capture_on_commit_callbacks).message


@pytest.mark.parametrize("code", ["nope", "off"])
def test_an_unknown_or_inactive_template_is_refused(code, agent, django_capture_on_commit_callbacks):
    EmailTemplateFactory(code="off", active=False)
    error = _refused(CustomerFactory(), code, agent, django_capture_on_commit_callbacks)
    assert error.code == "unknown_template"


def test_a_ticket_reply_needs_the_ticket_values(agent, django_capture_on_commit_callbacks):
    customer = CustomerFactory(first_name="Ann")
    error = _refused(customer, "ticket-reply", agent, django_capture_on_commit_callbacks)
    assert error.code == "needs_ticket"
    with django_capture_on_commit_callbacks(execute=True):
        message = email_send(customer=customer, template_code="ticket-reply", actor=agent,
                             extra_context={"ticket_subject": "Refund <October>", "reply_body": "Done & dusted."})
    assert message.subject == "Re: Refund <October>" and "Done & dusted." in message.text_body
    assert "Refund" not in str(AuditEvent.objects.get(action="support.email.queued").data)


def test_only_ticket_values_can_be_passed(agent):
    with pytest.raises(DomainError):
        email_send(customer=CustomerFactory(), template_code="welcome", actor=agent,
                   extra_context={"first_name": "Someone else"})
