"""The audit and access logs are append-only, enforced by the database: tried as an attacker would.

The tests run as the application role, like every process of the portal (tests/conftest.py), so every statement
below is what a compromised web or worker process could send. The owner role is tried through a connection of
its own: it may bypass triggers, and then the hash chain and `audit_verify` show what it did.
"""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone

from portal.access_log import access_log_write
from portal.audit import audit_record
from portal.audit_chain import verify_chain
from portal.db_roles import APPEND_ONLY_TABLES, application_user, owner_credentials
from portal.models import AccessLog, AuditEvent
from tests.factories import CustomerFactory

LOGS = [AuditEvent, AccessLog]


def _write_one_of_each(agent):
    customer = CustomerFactory()
    audit_record(actor=agent, action="customers.tag.added", customer=customer, obj=customer, data={"tag": "vip"})
    request = RequestFactory().get("/customers/x/", REMOTE_ADDR="10.1.2.3")
    request.user = agent
    access_log_write(request, [customer.pk])


def _refused(statement: str, params=()):
    """The statement fails inside its own savepoint (the test's transaction goes on)."""
    with pytest.raises(DatabaseError) as error, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
    return str(error.value)


def _owner_connection():
    owner = owner_credentials()
    return psycopg.connect(dbname=connection.settings_dict["NAME"], user=owner["USER"],
                           password=owner.get("PASSWORD") or None, host=owner.get("HOST") or None,
                           port=owner.get("PORT") or None, autocommit=True)


@pytest.mark.django_db
def test_the_tests_and_the_portal_connect_as_the_application_role_not_the_owner():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (user,) = cursor.fetchone()
    assert user == application_user() == settings.DATABASES["default"]["USER"]
    assert user != owner_credentials()["USER"]


@pytest.mark.django_db
def test_the_application_role_owns_nothing_and_cannot_create_anything():
    with connection.cursor() as cursor:
        cursor.execute("""SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles
                          WHERE rolname = current_user)""")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT has_schema_privilege('public', 'CREATE'), has_database_privilege(current_database(),"
                       " 'CREATE')")
        assert cursor.fetchone() == (False, False)
    assert "permission denied" in _refused("CREATE TABLE escape_hatch (id int)")
    assert "must be owner" in _refused("ALTER TABLE customers_customer ADD COLUMN x int")


@pytest.mark.django_db
@pytest.mark.parametrize("model", LOGS, ids=lambda m: m.__name__)
def test_orm_and_raw_update_and_delete_are_refused(agent, model):
    _write_one_of_each(agent)
    row = model.objects.get()
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        model.objects.filter(pk=row.pk).update(request_id="tampered")
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        model.objects.filter(pk=row.pk).delete()
    table = model._meta.db_table
    _refused(f"UPDATE {table} SET request_id = 'x' WHERE id = %s", [row.pk])
    _refused(f"DELETE FROM {table} WHERE id = %s", [row.pk])
    assert model.objects.filter(pk=row.pk, request_id=row.request_id).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_every_known_way_around_the_triggers_is_refused(agent, table):
    _write_one_of_each(agent)
    assert "permission denied" in _refused(f"TRUNCATE {table}")
    assert "permission denied" in _refused(f"TRUNCATE {table} CASCADE")
    # pgtrigger's own escape hatch: any session may set the variable, but it no longer opens anything.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL pgtrigger.ignore = '{portal_auditevent:append_only,portal_accesslog:append_only}'")
        cursor.execute(f"DELETE FROM {table}")
    assert "permission denied" in _refused("SET session_replication_role = replica")
    assert "must be owner" in _refused(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    assert "must be owner" in _refused(f"DROP TRIGGER append_only ON {table}")
    assert "must be owner" in _refused(f"DROP TABLE {table}")
    with connection.cursor() as cursor:  # a GRANT by a non-owner only warns, and grants nothing
        cursor.execute(f"GRANT UPDATE, DELETE, TRUNCATE ON {table} TO PUBLIC")
        cursor.execute("SELECT has_table_privilege(%s, 'UPDATE') OR has_table_privilege(%s, 'DELETE') "
                       "OR has_table_privilege(%s, 'TRUNCATE')", [table] * 3)
        assert cursor.fetchone() == (False,)
    assert "permission denied" in _refused("CREATE OR REPLACE FUNCTION portal_refuse_change() RETURNS trigger "
                                       "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        assert cursor.fetchone() == (1,)


@pytest.mark.django_db
def test_a_back_dated_insert_gets_the_database_time(agent):
    customer = CustomerFactory()
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("""INSERT INTO portal_auditevent (created_at, actor_label, source, action, object_type,
                          object_id, before, after, data, request_id, prev_hash, row_hash)
                          VALUES (%s, 'x', 'agent', 'forged', '', '', '{}', '{}', '{}', '', 'f', 'f')""", [long_ago])
        cursor.execute("""INSERT INTO portal_accesslog (created_at, customer_id, view, request_id)
                          VALUES (%s, %s, 'forged', '')""", [long_ago, customer.pk])
    recent = timezone.now() - timedelta(minutes=5)
    assert AuditEvent.objects.get(action="forged").created_at > recent
    assert AccessLog.objects.get(view="forged").created_at > recent
    # ... and the chain fields are the trigger's, not the client's.
    forged = AuditEvent.objects.get(action="forged")
    assert forged.prev_hash == "" and len(forged.row_hash) == 64


@pytest.mark.django_db
def test_audit_rows_come_back_with_the_database_id_time_and_hash(agent):
    first = audit_record(actor=agent, action="tests.one")
    second = audit_record(actor=agent, action="tests.two")
    assert second.pk > first.pk and second.created_at >= first.created_at
    stored = AuditEvent.objects.get(pk=second.pk)
    assert (second.created_at, second.prev_hash, second.row_hash) == (stored.created_at, stored.prev_hash,
                                                                      stored.row_hash)
    assert second.prev_hash == first.row_hash != ""
    assert verify_chain(connection).intact


# ---- The owner role: triggers refuse it too, and what it does behind them shows --------------------------------

@pytest.fixture
def chained_rows(transactional_db):
    """Five committed audit rows and one access row (the owner's connection sees only committed rows)."""
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    access_log_write(request, [CustomerFactory().pk])
    return [audit_record(actor=None, action=f"tests.event.{i}", data={"i": i}).pk for i in range(5)]


def _verify_output(*expect) -> tuple[int, str]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("audit_verify", *[f"--expect={value}" for value in expect], stdout=out, stderr=StringIO())
    except SystemExit as exit_:
        return exit_.code, out.getvalue()
    return 0, out.getvalue()


def test_audit_verify_passes_an_intact_chain(chained_rows):
    assert _verify_output() == (0, f"Audit chain intact: 5 rows, head {chained_rows[-1]}:"
                                   f"{AuditEvent.objects.get(pk=chained_rows[-1]).row_hash}.\n")


def test_the_owner_is_refused_update_and_delete_by_the_triggers(chained_rows):
    with _owner_connection() as owner:
        for statement in ("UPDATE portal_auditevent SET action = 'x'", "DELETE FROM portal_auditevent",
                          "UPDATE portal_accesslog SET view = 'x'"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                owner.execute(statement)
    assert _verify_output()[0] == 0


def _behind_the_triggers(statement: str, params=()):
    with _owner_connection() as owner:
        owner.execute("ALTER TABLE portal_auditevent DISABLE TRIGGER USER")
        try:
            owner.execute(statement, params)
        finally:
            owner.execute("ALTER TABLE portal_auditevent ENABLE TRIGGER USER")


def test_audit_verify_reports_a_row_the_owner_changed(chained_rows):
    _behind_the_triggers("UPDATE portal_auditevent SET data = '{\"i\": 99}' WHERE id = %s", [chained_rows[2]])
    code, output = _verify_output()
    assert code == 1
    assert f"row {chained_rows[2]}: changed: its content no longer matches its hash" in output


def test_audit_verify_reports_a_row_the_owner_removed(chained_rows):
    _behind_the_triggers("DELETE FROM portal_auditevent WHERE id = %s", [chained_rows[2]])
    code, output = _verify_output()
    assert code == 1
    assert f"row {chained_rows[3]}: does not follow row {chained_rows[1]}" in output


def test_audit_verify_reports_a_row_the_owner_slipped_in_back_dated(chained_rows):
    _behind_the_triggers(
        """INSERT INTO portal_auditevent (id, created_at, actor_label, source, action, object_type, object_id,
           before, after, data, request_id, prev_hash, row_hash)
           SELECT %s, created_at - interval '1 day', 'manager', 'agent', 'payments.refund.approved', '', '',
                  '{}', '{}', '{}', '', row_hash, row_hash FROM portal_auditevent WHERE id = %s""",
        [chained_rows[-1] + 1000, chained_rows[-1]])
    code, output = _verify_output()
    assert code == 1
    assert f"row {chained_rows[-1] + 1000}: changed" in output
    assert f"row {chained_rows[-1] + 1000}: is older than row {chained_rows[-1]} before it" in output


def test_audit_verify_reports_rows_removed_from_the_end_against_a_logged_head(chained_rows):
    from portal.tasks import audit_chain_head

    head = audit_chain_head()
    assert head["id"] == chained_rows[-1]
    _behind_the_triggers("DELETE FROM portal_auditevent WHERE id >= %s", [chained_rows[3]])
    assert _verify_output()[0] == 0  # the rest of the chain is consistent...
    code, output = _verify_output(f"{head['id']}:{head['hash']}")
    assert code == 1 and f"row {head['id']}: was logged as a chain head but is no longer in the log" in output


def test_concurrent_writers_keep_one_unbroken_chain(transactional_db):
    """Eight threads write audit rows at once: ids, times and hashes still form one chain in commit order."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def write(n):
        try:
            for i in range(10):
                with transaction.atomic():
                    audit_record(actor=None, action=f"tests.thread.{n}.{i}")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    report = verify_chain(connection)
    assert report.rows == 80 and report.intact, report.problems


def test_the_database_check_is_quiet_for_the_application_role_and_warns_for_the_owner(transactional_db):
    from portal.checks import audit_logs_are_append_only_for_this_role

    assert audit_logs_are_append_only_for_this_role(databases=["default"]) == []
    # A portal connected as the owner (one DATABASE_URL, no separate roles) is warned about.
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(owner_credentials())
    try:
        warnings = audit_logs_are_append_only_for_this_role(databases=["default"])
    finally:
        connection.close()
        connection.settings_dict.update(saved)
    assert [warning.id for warning in warnings] == ["portal.W010"]


def test_beat_logs_the_chain_head_daily_and_purges_idempotency_keys(transactional_db):
    """Beat's scheduler (which closes connections, hence a transactional test) installs both daily tasks."""
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from portal.celery import app

    DatabaseScheduler(app=app, lazy=True).setup_schedule()
    for name in ("portal.audit_chain_head", "portal.idempotency_purge"):
        task = PeriodicTask.objects.get(task=name)
        assert task.enabled and task.interval.every * {"days": 86400, "hours": 3600, "minutes": 60,
                                                         "seconds": 1}[task.interval.period] == 86400


def test_every_row_lock_is_no_key_update():
    """Row locks are FOR NO KEY UPDATE, never FOR UPDATE. A service holding a customer FOR UPDATE while it waits for
    the audit chain's lock would deadlock with a transaction that holds the chain lock and, at its commit, checks a
    foreign key to that customer (FOR KEY SHARE, which FOR UPDATE blocks and FOR NO KEY UPDATE does not). No
    service changes a primary key, so the weaker lock loses nothing."""
    from pathlib import Path

    def calls(text: str):  # each select_for_update(...) with its arguments, parentheses balanced
        start = text.find("select_for_update(")
        while start != -1:
            depth, end = 0, start + len("select_for_update")
            for end in range(end, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            yield text[start:end + 1]
            start = text.find("select_for_update(", end)

    root = Path(__file__).resolve().parent.parent
    sources = [path for path in root.glob("*/**/*.py")
               if not path.is_relative_to(root / ".venv") and not path.is_relative_to(root / "tests")]
    found = [call for path in sources for call in calls(path.read_text())]
    assert len(found) > 10  # the scan sees the services' locks
    assert [call for call in found if "no_key=True" not in call] == []
