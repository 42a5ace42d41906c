"""An email goes from the send service through a real broker to a real Celery worker process, which delivers it
over SMTP to a server started by the test (aiosmtpd on loopback); the test reads what arrived.

The embedded broker (kombu's SQLAlchemy transport on the test database) runs in `make test`; the Redis variant is
an integration test (`make test-integration`), like tests/test_celery_roundtrip.py.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import socket
import subprocess
import sys
import time
import uuid
from unittest import mock

import pytest
from aiosmtpd.controller import Controller
from celery import Celery

from portal.broker import broker_urls
from portal.roles import sync_roles
from support.models import EmailMessage
from support.services import email_send
from tests.factories import CustomerFactory, UserFactory
from tests.helpers import ROOT, subprocess_env
from tests.support.factories import EmailTemplateFactory
from tests.test_celery_roundtrip import _close_other_connections


class Inbox:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@contextlib.contextmanager
def celery_worker(broker: str, backend: str, queue: str, **env):
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "-Q", queue,
         "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
        cwd=ROOT, env=subprocess_env(CELERY_BROKER_URL=broker, CELERY_RESULT_BACKEND=backend,
                                     CELERY_TASK_ALWAYS_EAGER="0", **env),
    )
    producer = Celery("email-test", broker=broker, backend=backend)
    try:
        yield producer
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        producer.close()
        _close_other_connections()


def _wait_for(predicate, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def _deliver_through_a_real_worker(broker: str, backend: str):
    sync_roles()  # the flush after a transactional test empties the role groups; later tests need them
    agent = UserFactory(username="agent-smtp", first_name="Sam", last_name="Rivera", role="Agent")
    customer = CustomerFactory(first_name="<b>Ann</b>", last_name="O'Hara & Co", email="ann@example.com")
    EmailTemplateFactory(code="hello", name="Hello", subject="Hello {{ first_name }}",
                         body="Dear {{ full_name }},\n\nAll set.\n\n{{ agent_name }}")
    queue = f"email-{uuid.uuid4().hex[:8]}"
    with smtp_server() as (inbox, port), celery_worker(broker, backend, queue,
                                                        EMAIL_URL=f"smtp://127.0.0.1:{port}") as producer:
        # The task goes to this test's private queue (below), not to the default one after commit.
        with mock.patch("support.services._deliver_after_commit"):
            message = email_send(customer=customer, template_code="hello", actor=agent)
        for _ in range(2):  # a re-run of the task (a redelivery, a recovery job) must not send it again
            producer.send_task("support.email_deliver", args=[message.pk], queue=queue)
        assert _wait_for(lambda: EmailMessage.objects.get(pk=message.pk).status == "sent"), (
            EmailMessage.objects.get(pk=message.pk).error)
        time.sleep(1.0)  # time for the second task to run (and find nothing to send)
        assert _wait_for(lambda: len(inbox.messages) >= 1)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error) == ("sent", 1, "")
    assert len(inbox.messages) == 1
    recipients, received = inbox.messages[0]
    assert recipients == ["ann@example.com"]
    assert received["Subject"] == "Hello <b>Ann</b>" and received["To"] == "ann@example.com"
    assert received["Message-ID"] == message.provider_message_id
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert "Dear <b>Ann</b> O'Hara & Co," in text and "Sam Rivera" in text
    assert "Dear &lt;b&gt;Ann&lt;/b&gt; O&#x27;Hara &amp; Co," in html and "<b>Ann</b>" not in html


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_an_email_over_smtp_through_the_embedded_broker():
    from django.db import connection

    broker, backend = broker_urls("", connection.settings_dict)
    # A broker URL of its own: kombu keeps one engine per URL for the process, and this test ends by closing its
    # connections; another test using the plain URL afterwards must not inherit them.
    _deliver_through_a_real_worker(f"{broker}&application_name=email-delivery-test", backend)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_an_email_over_smtp_through_redis():
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    _deliver_through_a_real_worker(redis_url, redis_url)
