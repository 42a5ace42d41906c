"""seed_demo writes audit and access-log history: back-dated, hash-chained so audit_verify accepts it, readable on
the audit page, and the application's next audit row links on to it."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client

from customers.models import Customer
from customers.services import customer_note_add
from demo.seed import history
from portal.audit_chain import verify_chain
from portal.models import AccessLog, AuditEvent
from tests.test_seed_demo import ANCHOR, seed


@pytest.fixture
def seeded(owner_role, db):
    return seed()


def test_the_seed_writes_a_chained_back_dated_audit_history(seeded):
    events = list(AuditEvent.objects.order_by("id"))
    assert 0 < len(events) <= history.history_events(300)
    assert "audit history" in seeded
    assert {e.action for e in events} >= {"customers.note.added", "customers.tag.added", "customers.profile.updated",
                                         "payments.refund.created"}
    days = {e.created_at.date() for e in events}
    assert len(days) > 10 and max(e.created_at for e in events) <= ANCHOR
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)
    assert all(e.actor_label in {"agent", "manager"} and e.request_id for e in events)
    assert all(isinstance(e.data.get("length"), int) for e in events if e.action == "customers.note.added")

    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    report = verify_chain(connection)
    assert report.intact and report.rows == len(events), report.problems


def test_the_seed_writes_access_history_before_each_change(seeded):
    views = AccessLog.objects.all()
    assert views.count() >= AuditEvent.objects.exclude(customer=None).count()
    assert set(views.values_list("view", flat=True)) >= {"customers:profile"}
    assert views.filter(created_at__gt=ANCHOR).count() == 0


def test_the_app_chains_on_to_the_seeded_history(seeded):
    manager = get_user_model().objects.get(username="manager")
    customer = Customer.objects.exclude(status="erased").first()
    customer_note_add(customer=customer, body="Called back.", actor=manager)
    report = verify_chain(connection)
    assert report.intact, report.problems
    newest = AuditEvent.objects.order_by("-id").first()
    assert newest.action == "customers.note.added" and newest.created_at > ANCHOR


def test_a_manager_sees_the_seeded_history_without_database_keys(seeded):
    client = Client()
    client.force_login(get_user_model().objects.get(username="manager"))
    page = client.get("/audit/").content.decode()
    assert "Nothing recorded yet" not in page and page.count("<tr>") > 20
    assert re.search(r"Note on cus_\w+ \(\d[\d,]* characters\)", page)
    access = client.get("/audit/access/").content.decode()
    assert "customers:profile" in access and "Nothing recorded yet" not in access


def test_the_seed_leaves_an_existing_audit_log_alone(owner_role, db):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO portal_auditevent (actor_label, source, action, object_type, object_id, before, "
                       "after, data, request_id) VALUES ('', 'system', 'tests.before_seed', '', '', '{}', '{}', "
                       "'{}', '')")
    seed()
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["tests.before_seed"]
    assert verify_chain(connection).intact
