"""AuditEvent and AccessLog are append-only, enforced by Postgres triggers, whatever the client does."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from portal.access_log import access_log_write
from portal.audit import audit_record, changed_fields
from portal.context import action_source
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
@pytest.mark.parametrize("fixture_name", ["audit_event", "access_log"])
def test_orm_update_and_delete_are_refused_by_the_database(request, fixture_name):
    row = request.getfixturevalue(fixture_name)
    model = type(row)
    with pytest.raises(DatabaseError, match="Cannot update or delete rows"), transaction.atomic():
        model.objects.filter(pk=row.pk).update(request_id="tampered")
    with pytest.raises(DatabaseError, match="Cannot update or delete rows"), transaction.atomic():
        model.objects.filter(pk=row.pk).delete()
    assert model.objects.filter(pk=row.pk, request_id=row.request_id).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("fixture_name", ["audit_event", "access_log"])
def test_raw_sql_update_and_delete_are_refused_too(request, fixture_name):
    row = request.getfixturevalue(fixture_name)
    table = type(row)._meta.db_table
    for statement in (f"UPDATE {table} SET request_id = 'x' WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [row.pk])
    assert type(row).objects.filter(pk=row.pk).exists()


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
    cursor = AuditEvent.objects.order_by("-id")[49].id
    second = client.get("/audit/", {"before": cursor}).content.decode()
    assert "tests.event.04" in second and "tests.event.54" not in second


@pytest.mark.django_db
def test_audit_viewer_names_changed_fields_without_values(manager, client_for, agent):
    customer = CustomerFactory()
    audit_record(actor=agent, action="customers.profile.updated", customer=customer, obj=customer,
                 data={"fields": ["first_name", "email"]})
    page = client_for(manager).get("/audit/").content.decode()
    assert "<b>Changed</b>: First name, Email" in page
