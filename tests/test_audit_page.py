"""The audit page names objects by public id or label (never a database key), shows times for the reader's zone,
tells an empty log from an empty filter, and the access log viewer beside it."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.services import customer_note_add, customer_profile_update, customer_tag_add
from portal import selectors
from portal.access_log import access_log_write
from portal.audit import audit_record
from portal.cursors import encode_cursor
from portal.models import AccessLog, AuditEvent
from portal.services import api_token_create
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

NOTE = "x" * 312


def _table_text(page: str) -> str:
    """The visible text of the results table, times left out (they are dates, not ids)."""
    table = page[page.index("<tbody>"):page.index("</tbody>")]
    table = re.sub(r"<time[^>]*>.*?</time>", " ", table)
    table = re.sub(r'<[^>]+>', " ", table)  # tags and their attributes (hrefs are public ids)
    return unescape(table)


def _rows(page: str) -> list[str]:
    return re.findall(r"<tr>\s*<td[^>]*><time.*?</tr>", page, re.S)


def _bare_integers(text: str) -> set[str]:
    """Standalone integers: not part of a word, an id, an amount ($12.50) or a thousands group (1,234)."""
    return set(re.findall(r"(?<![\w.,$€£])\d+(?![\w.,])", text))


# ---- The audit events --------------------------------------------------------------------------------------------

def test_the_note_service_stores_no_database_key_in_data(agent):
    customer = CustomerFactory()
    note = customer_note_add(customer=customer, body=NOTE, actor=agent)
    event = AuditEvent.objects.get(action="customers.note.added")
    assert event.data == {"length": 312}
    assert (event.object_type, event.object_id, event.customer_id) == ("customers.note", str(note.pk), customer.pk)


def test_the_page_shows_labels_and_public_ids_never_database_keys(manager, agent, client_for):
    customer = CustomerFactory()
    note = customer_note_add(customer=customer, body=NOTE, actor=agent)
    customer_tag_add(customer=customer, name="VIP", actor=agent)
    customer_profile_update(customer=customer, actor=agent, first_name="Ada", last_name="Byron",
                            email="ada@example.com", country="GB")
    token, _ = api_token_create(user=agent, name="Helpdesk", actor=agent)
    # A note row as written before notes were labelled: its key in the data too.
    audit_record(actor=agent, action="customers.note.added", customer=customer, obj=note,
                 data={"note": note.pk, "length": 40})
    audit_record(actor=agent, action="payments.refund.created", customer=customer,
                 data={"payment": "pay_0123456789abcdef", "amount": 2550, "currency": "EUR"})
    page = client_for(manager).get("/audit/").content.decode()

    assert f"Note on {customer.public_id} (312 characters)" in page
    assert f"Note on {customer.public_id} (40 characters)" in page
    assert f"API token “Helpdesk” ({token.hint}…) of agent" in page
    assert "<b>Tag</b>: vip" in page and "<b>Changed</b>: First name, Last name, Email" in page
    assert "€25.50" in page
    keys = {str(pk) for pk in (note.pk, token.pk, customer.pk, agent.pk, manager.pk)}
    found = _bare_integers(_table_text(page))
    assert found <= {"312", "40"}, f"database keys or stray numbers on the audit page: {found - {'312', '40'}}"
    assert not (keys - {"312", "40"}) & found


def test_admin_rows_are_named_by_their_label(admin_user, manager, client_for):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    client_for(admin_user).post("/admin/auth/group/add/", {"name": "Night shift"})
    event = AuditEvent.objects.get(action="admin.auth.group.added")
    assert event.data["label"] == "Night shift"
    page = client_for(manager).get("/audit/").content.decode()
    assert "Group “Night shift”" in page
    assert event.object_id not in _bare_integers(_table_text(page))


def test_times_are_utc_iso_for_the_script_with_a_utc_fallback(manager, agent, client_for):
    event = audit_record(actor=agent, action="tests.timed")
    page = client_for(manager).get("/audit/").content.decode()
    assert (f'<time data-local="seconds" datetime="{event.created_at.isoformat()}">'
            f'{event.created_at:%Y-%m-%d %H:%M:%S} UTC</time>') in page


def test_an_empty_log_says_nothing_is_recorded_yet(manager, client_for):
    client = client_for(manager)
    page = client.get("/audit/").content.decode()
    assert "Nothing recorded yet." in page and "match these filters" not in page
    filtered = client.get("/audit/", {"actor": "nobody"}).content.decode()
    assert "No audit events match these filters" in filtered and "Nothing recorded yet." not in filtered
    assert "Nothing recorded yet." in client.get("/audit/", {"action": "  "}).content.decode()


def test_the_older_link_keeps_the_filters(manager, client_for, agent):
    for i in range(55):
        audit_record(actor=agent, action=f"tests.event.{i:02d}")
    page = client_for(manager).get("/audit/", {"action": "tests."}).content.decode()
    link = unescape(re.search(r'href="([^"]+)">Older events', page).group(1))
    assert link.startswith("?action=tests.&before=")


def test_the_audit_page_costs_the_same_queries_for_a_full_page(manager, agent, client_for,
                                                               django_assert_max_num_queries):
    customers = CustomerFactory.create_batch(5)
    for i in range(60):
        customer_note_add(customer=customers[i % 5], body=f"note {i}", actor=agent)
    client = client_for(manager)
    client.get("/audit/")
    with django_assert_max_num_queries(4):
        response = client.get("/audit/")
    assert response.content.decode().count("Note on cus_") == 50


def test_agents_cannot_read_the_audit_page_or_the_access_log(agent, client_for):
    client = client_for(agent)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/access/").status_code == 403


# ---- The access log ----------------------------------------------------------------------------------------------

def _view(user, customers, view="/customers/x/"):
    request = RequestFactory().get(view, REMOTE_ADDR="10.9.8.7")
    request.user = user
    access_log_write(request, [c.pk for c in customers])


@pytest.fixture
def views(agent, manager):
    ada, bob = CustomerFactory(first_name="Adalind", email="adalind@pii.example"), CustomerFactory()
    _view(agent, [ada])
    _view(agent, [bob])
    _view(manager, [ada])
    return ada, bob


def test_the_access_log_lists_who_viewed_whom_newest_first(manager, client_for, views):
    ada, bob = views
    response = client_for(manager).get("/audit/access/")
    page = response.content.decode()
    assert response.status_code == 200
    rows = _rows(page)
    assert len(rows) == 3
    assert "manager" in rows[0] and ada.public_id in rows[0] and "10.9.8.7" in rows[0]
    assert bob.public_id in rows[1] and ada.public_id in rows[2]
    assert "Adalind" not in page and "adalind@pii.example" not in page  # public ids only


def test_reading_the_access_log_is_not_itself_logged(manager, client_for, views):
    before = AccessLog.objects.count()
    client_for(manager).get("/audit/access/", {"customer": views[0].public_id})
    assert AccessLog.objects.count() == before


def test_the_access_log_filters_by_customer_user_and_dates(manager, client_for, views):
    ada, bob = views
    client = client_for(manager)

    def shown(**query):
        page = client.get("/audit/access/", query, headers={"HX-Request": "true"}).content.decode()
        return _rows(page), page

    rows, _ = shown(customer=ada.public_id)
    assert len(rows) == 2 and all(ada.public_id in row for row in rows)
    rows, _ = shown(user="agent")
    assert len(rows) == 2 and all("agent" in row for row in rows)
    rows, _ = shown(customer=ada.public_id, user="agent")
    assert len(rows) == 1
    today = timezone.now().date()
    assert len(shown(since=today.isoformat(), until=today.isoformat())[0]) == 3
    rows, page = shown(until=(today - timedelta(days=1)).isoformat())
    assert rows == [] and "No views match these filters" in page
    rows, page = shown(user="nobody")
    assert rows == [] and "No views match these filters" in page
    _, page = shown(since=today.isoformat(), until=(today - timedelta(days=2)).isoformat())
    assert "The end date is before the start date." in page
    _, page = shown(customer="42")
    assert "A customer id looks like" in page


def test_an_empty_access_log_says_nothing_is_recorded_yet(manager, client_for):
    assert "Nothing recorded yet." in client_for(manager).get("/audit/access/").content.decode()


def test_the_access_log_pages_with_a_cursor(manager, client_for, agent):
    customers = CustomerFactory.create_batch(55)
    for customer in customers:
        _view(agent, [customer])
    client = client_for(manager)
    first = client.get("/audit/access/", {"user": "agent"}).content.decode()
    link = unescape(re.search(r'href="([^"]+)">Older views', first).group(1))
    assert link.startswith("?user=agent&after=")
    second = client.get("/audit/access/" + link).content.decode()
    assert customers[54].public_id in first and customers[5].public_id in first
    assert customers[4].public_id in second and customers[0].public_id in second
    assert customers[5].public_id not in second and "Older views" not in second


@pytest.mark.parametrize("cursor", ["garbage", "foreign"])
def test_the_access_log_restarts_on_a_bad_cursor(manager, client_for, views, cursor):
    token = encode_cursor([1, 2], salt="customers.profile") if cursor == "foreign" else cursor
    page = client_for(manager).get("/audit/access/", {"after": token}).content.decode()
    assert "This page link is not valid" in page and "Showing the newest views." in page
    assert views[0].public_id in page


def test_the_access_log_costs_the_same_queries_for_a_full_page(manager, agent, client_for,
                                                               django_assert_max_num_queries):
    customers = CustomerFactory.create_batch(60)
    _view(agent, customers)
    client = client_for(manager)
    client.get("/audit/access/")
    with django_assert_max_num_queries(4):
        assert client.get("/audit/access/").content.decode().count("<tr>") == 51  # header + 50
    with django_assert_max_num_queries(6):  # + the customer's and the user's key
        client.get("/audit/access/", {"customer": customers[0].public_id, "user": "agent"})


@pytest.mark.parametrize("filters, index, definition", [
    ({"customer_public_id": "customer"}, "access_customer_time", "(customer_id, created_at DESC, id DESC)"),
    ({"username": "agent"}, "access_user_time", "(user_id, created_at DESC, id DESC)"),
    ({}, "access_time", "(created_at DESC, id DESC)"),
    ({"since": "today"}, "access_time", "(created_at DESC, id DESC)"),
])
def test_each_access_log_filter_has_an_index_in_its_order(agent, views, filters, index, definition):
    """Each filter has an index that matches it and the page order, and with sorting priced out the page query
    still plans (which index a near-empty test table picks is the planner's call; the order must come from one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index])
        assert cursor.fetchone()[0].endswith(definition)
    filters = {key: {"customer": views[0].public_id, "today": timezone.now().date()}.get(value, value)
               for key, value in filters.items()}
    with CaptureQueriesContext(connection) as queries:
        selectors.access_log_entries(**filters)
    sql = next(q["sql"] for q in queries.captured_queries if "portal_accesslog" in q["sql"])
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_sort", "enable_incremental_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Sort" not in plan and "Index Scan" in plan and "access_" in plan, plan
