"""The audit and access log helpers and the audit viewer (append-only guarantees: tests/test_append_only.py)."""

import re

import pytest
from django.test import RequestFactory

from portal.access_log import access_log_write
from portal.audit import audit_record, changed_fields
from portal.context import action_source
from portal.cursors import encode_cursor
from portal.models import AccessLog, AuditEvent
from tests.factories import CustomerFactory


@pytest.fixture
def audit_event(agent):
    customer = CustomerFactory()
    return audit_record(actor=agent, action="customers.profile.updated", customer=customer, obj=customer,
                        before={"status": "active"}, after={"status": "inactive"})


@pytest.fixture
def access_log(agent):
    request = RequestFactory().get("/customers/x/", REMOTE_ADDR="10.1.2.3")
    request.user = agent
    access_log_write(request, [CustomerFactory().pk])
    return AccessLog.objects.get()


@pytest.mark.django_db
def test_audit_record_keeps_who_what_and_where_from(agent, audit_event):
    assert audit_event.actor_label == "agent"
    assert audit_event.object_type == "customers.customer"
    assert audit_event.object_id.startswith("cus_")
    assert audit_event.source == "agent"
    assert (audit_event.before, audit_event.after) == ({"status": "active"}, {"status": "inactive"})


@pytest.mark.django_db
def test_audit_source_follows_the_entry_point(agent):
    with action_source("scheduled"):
        event = audit_record(actor=None, action="segments.recomputed")
    assert (event.source, event.actor_label) == ("scheduled", "")


def test_changed_fields_lists_only_real_changes():
    class Row:
        first_name, email = "Ann", "a@x.io"

    assert changed_fields(Row(), {"first_name": "Ann", "email": "b@x.io"}) == ({"email": "a@x.io"}, {"email": "b@x.io"})


@pytest.mark.django_db
def test_access_log_records_user_customer_view_and_ip(access_log, agent):
    assert (access_log.user, access_log.view, access_log.ip_address) == (agent, "/customers/x/", "10.1.2.3")


@pytest.mark.django_db
def test_audit_viewer_lists_events_and_filters_by_customer(manager, client_for, audit_event):
    client = client_for(manager)
    page = client.get("/audit/").content.decode()
    assert "customers.profile.updated" in page and "agent" in page
    other = client.get("/audit/", {"customer": "cus_0000000000000000"}).content.decode()
    assert "No audit events match" in other
    bad = client.get("/audit/", {"customer": "<script>"})
    assert bad.status_code == 200 and "A customer id looks like" in bad.content.decode()


@pytest.mark.django_db
def test_audit_viewer_pages_with_a_cursor(manager, client_for, agent):
    for i in range(55):
        audit_record(actor=agent, action=f"tests.event.{i:02d}")
    client = client_for(manager)
    first = client.get("/audit/").content.decode()
    assert "tests.event.54" in first and "tests.event.04" not in first
    cursor = re.search(r'before=([^"&]+)">Older events', first).group(1)
    second = client.get("/audit/", {"before": cursor}).content.decode()
    assert "tests.event.04" in second and "tests.event.54" not in second
    assert "tests.event.05" not in second and "Older events" not in second  # keyset on id: no overlap, the end


@pytest.mark.django_db
@pytest.mark.parametrize("before", ["garbage", "50", "W10.forged", "x" * 5000, "edited", "foreign"])
def test_audit_viewer_shows_the_newest_events_for_a_bad_cursor(manager, client_for, agent, before):
    for i in range(55):
        audit_record(actor=agent, action=f"tests.event.{i:02d}")
    client = client_for(manager)
    cursor = re.search(r'before=([^"&]+)">Older events', client.get("/audit/").content.decode()).group(1)
    payload, _, signature = cursor.rpartition(".")
    before = {"edited": payload[:-2] + "AA." + signature,
              "foreign": encode_cursor([10**9], salt="customers.profile")}.get(before, before)
    response = client.get("/audit/", {"before": before})
    assert response.status_code == 200
    page = response.content.decode()
    assert "tests.event.54" in page and "tests.event.04" not in page
    assert "This page link is not valid" in page and "Showing the newest events." in page


@pytest.mark.django_db
def test_audit_viewer_names_changed_fields_without_values(manager, client_for, agent):
    customer = CustomerFactory()
    audit_record(actor=agent, action="customers.profile.updated", customer=customer, obj=customer,
                 data={"fields": ["first_name", "email"]})
    page = client_for(manager).get("/audit/").content.decode()
    assert "<b>Changed</b>: First name, Email" in page


@pytest.mark.django_db
def test_one_call_records_the_audit_row_and_the_timeline_event_together(agent):
    from customers.models import ActivityEvent
    from portal.audit import Timeline

    customer = CustomerFactory()
    with action_source("api"):
        event = audit_record(actor=agent, action="customers.tag.added", customer=customer, obj=customer,
                             data={"tag": "vip"}, timeline=Timeline(ActivityEvent.Kind.PROFILE, "Tag “vip” added",
                                                                   {"tag": "vip"}))
    entry = ActivityEvent.objects.get(customer=customer)
    assert (entry.action, entry.kind, entry.summary, entry.payload, entry.source, entry.actor) == (
        "tag.added", "profile", "Tag “vip” added", {"tag": "vip"}, "api", agent)
    assert event.source == "api" and event.customer == customer
    with pytest.raises(ValueError, match="needs the customer"):
        audit_record(actor=agent, action="x.y", timeline=Timeline(ActivityEvent.Kind.PROFILE, "nobody's"))


def test_only_the_kernel_writes_timeline_events():
    """Services record changes through portal.audit.audit_record(timeline=…), never by creating ActivityEvents
    themselves (the demo loader bulk-loads history and is the one exception)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    writers = [str(path.relative_to(root)) for path in root.glob("*/**/*.py")
               if not path.is_relative_to(root / ".venv") and not path.is_relative_to(root / "tests")
               and not path.is_relative_to(root / "demo") and path != root / "portal" / "audit.py"
               and "ActivityEvent.objects.create" in path.read_text()]
    assert writers == []
