"""A customer's owner: set from the profile header (me, an agent, nobody), audited; the directory's owner filter
(page and API), its errors, and an index path for it with every sort."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from customers.models import ActivityEvent, Customer
from customers.selectors.directory import SORT_COLUMNS
from customers.services import customer_owner_set
from portal.errors import DomainError
from portal.models import AuditEvent
from tests.customers.test_directory import explain_all
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def ana(db):
    return UserFactory(username="ana", role="Agent")


@pytest.fixture
def customers(agent, ana):
    mine = [CustomerFactory(first_name=f"Mine{n}", owner=agent) for n in range(3)]
    anas = [CustomerFactory(first_name=f"Anas{n}", owner=ana) for n in range(2)]
    nobodys = [CustomerFactory(first_name=f"Free{n}") for n in range(4)]
    return {"mine": mine, "ana": anas, "nobody": nobodys}


def owner_url(customer) -> str:
    return f"/customers/{customer.public_id}/owner/"


def listed_ids(response) -> set[str]:
    return {row["id"] for row in response.json()["results"]}


# ---- Setting the owner -------------------------------------------------------------------------------------------

def test_an_agent_takes_a_customer_gives_it_to_a_colleague_and_releases_it(agent_client, agent, ana):
    customer = CustomerFactory()
    header = agent_client.get(f"/customers/{customer.public_id}/").content.decode()
    assert '<option value="me">Me (agent)</option>' in header and '<option value="ana">ana</option>' in header

    response = agent_client.post(owner_url(customer), {"owner": "me"}, headers=HTMX)
    assert response.status_code == 200 and response["HX-Retarget"] == "#profile-header"
    assert '<option value="me" selected>' in response.content.decode()
    customer.refresh_from_db()
    assert customer.owner == agent

    agent_client.post(owner_url(customer), {"owner": "ana"}, headers=HTMX)
    customer.refresh_from_db()
    assert customer.owner == ana
    agent_client.post(owner_url(customer), {"owner": ""})
    customer.refresh_from_db()
    assert customer.owner is None

    audits = list(AuditEvent.objects.filter(action="customers.owner.changed").order_by("id"))
    assert [(a.before, a.after) for a in audits] == [
        ({"owner": None}, {"owner": agent.pk}), ({"owner": agent.pk}, {"owner": ana.pk}),
        ({"owner": ana.pk}, {"owner": None})]
    assert list(ActivityEvent.objects.filter(action="owner.changed").order_by("id").values_list("summary", flat=True)) == [
        "agent took ownership", "Owner set to ana", "Owner removed: nobody looks after this customer now"]


def test_only_active_agent_roles_can_own_and_a_no_op_writes_nothing(agent_client, agent, outsider):
    customer = CustomerFactory(owner=agent)
    response = agent_client.post(owner_url(customer), {"owner": "outsider"}, headers=HTMX)
    assert response.status_code == 422 and "Nobody who can own customers is called “outsider”" in response.content.decode()
    with pytest.raises(DomainError, match="active user with an agent role"):
        customer_owner_set(customer=customer, owner_id=outsider.pk, actor=agent)
    inactive = UserFactory(username="gone", role="Agent", is_active=False)
    with pytest.raises(DomainError):
        customer_owner_set(customer=customer, owner_id=inactive.pk, actor=agent)
    assert customer_owner_set(customer=customer, owner_id=agent.pk, actor=agent) is False
    assert not AuditEvent.objects.filter(action="customers.owner.changed").exists()


def test_setting_the_owner_needs_the_edit_capability_and_post(client_for, viewer, agent_client):
    customer = CustomerFactory()
    assert client_for(viewer).post(owner_url(customer), {"owner": "me"}).status_code == 403
    assert agent_client.get(owner_url(customer)).status_code == 405
    customer.refresh_from_db()
    assert customer.owner is None


# ---- The owner filter ------------------------------------------------------------------------------------------

def test_owner_me_lists_my_customers(agent_client, customers):
    api = agent_client.get("/api/v1/customers", {"owner": "me"})
    assert listed_ids(api) == {c.public_id for c in customers["mine"]}
    page = agent_client.get("/customers/", {"owner": "me"}).content.decode()
    assert all(c.public_id in page for c in customers["mine"])
    assert not any(c.public_id in page for c in customers["ana"] + customers["nobody"])
    assert '<option value="me" selected>My customers</option>' in page


def test_owner_by_username_combines_with_other_filters_and_sorts(agent_client, customers):
    assert listed_ids(agent_client.get("/api/v1/customers", {"owner": "ana"})) == {
        c.public_id for c in customers["ana"]}
    for sort in SORT_COLUMNS:
        for prefix in ("", "-"):
            response = agent_client.get("/api/v1/customers", {"owner": "ana", "sort": prefix + sort})
            assert listed_ids(response) == {c.public_id for c in customers["ana"]}, sort
    assert listed_ids(agent_client.get("/api/v1/customers", {"owner": "ana", "q": "anas1"})) == {
        customers["ana"][1].public_id}
    assert listed_ids(agent_client.get("/api/v1/customers", {"owner": "ana", "status": "churned"})) == set()


def test_an_unknown_owner_is_a_friendly_error(agent_client, customers):
    page = agent_client.get("/customers/", {"owner": "nobody-here"})
    assert page.status_code == 200
    assert "Nobody who can own customers is called “nobody-here”" in page.content.decode()
    api = agent_client.get("/api/v1/customers", {"owner": "nobody-here"})
    assert api.status_code == 400 and api.json()["error"]["code"] == "invalid_parameters"
    assert "nobody-here" in api.json()["error"]["message"]


def test_a_new_agent_can_be_filtered_on_at_once(agent_client, customers):
    agent_client.get("/customers/", {"owner": "me"})  # the lookups are read and shared
    newcomer = UserFactory(username="newcomer", role="Agent")
    customer = CustomerFactory(owner=newcomer)
    assert listed_ids(agent_client.get("/api/v1/customers", {"owner": "newcomer"})) == {customer.public_id}


OWNER_SHAPES = [{"owner": "ana", "sort": prefix + key} for key in SORT_COLUMNS for prefix in ("", "-")] + [
    {"owner": "me", "q": "mine"}, {"owner": "me", "status": "inactive"}]


@pytest.mark.parametrize("params", OWNER_SHAPES, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_no_owner_shape_needs_a_sequential_scan_and_each_sort_walks_an_owner_index(agent_client, customers, params):
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    try:
        plans = explain_all(agent_client, params)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
    assert plans and not [plan for plan in plans if "Seq Scan on customers_customer" in plan]
    if "q" not in params and "status" not in params:
        # The page itself walks one of the (owner_id, <sort>) indexes of migration 0006.
        assert any("customer_owner_" in plan for plan in plans), plans


def test_the_owner_indexes_match_the_sort_keysets():
    """One partial (owner_id, <keyset>) index per sort, as migration 0006 says."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers_customer' "
                       "AND indexname LIKE 'customer_owner_%%'")
        indexes = dict(cursor.fetchall())
    assert all("WHERE (owner_id IS NOT NULL)" in definition for definition in indexes.values())
    expected = {"since": "(owner_id, registered_at, id) INCLUDE (search_text)",
                "name": "(owner_id, last_name, first_name, id)", "email": "(owner_id, email, id)",
                "status": "(owner_id, status, id)", "plan": "(owner_id, plan_id, id)",
                "mrr": "(owner_id, status, mrr_reporting, id)", "storefront": "(owner_id, storefront_id, id)"}
    assert set(expected) == set(SORT_COLUMNS)
    definitions = " ".join(indexes.values())
    for columns in expected.values():
        assert columns in definitions, columns


def test_api_owner_filter_of_an_agent_without_customers_is_empty(api_client_for, agent, ana, customers):
    Customer.objects.filter(owner=ana).update(owner=None)
    assert listed_ids(api_client_for(agent).get("/api/v1/customers", {"owner": "ana"})) == set()
    body = json.loads(api_client_for(agent).get("/api/v1/customers", {"owner": "me"}).content)
    assert body["count"] == {"value": 3, "exact": True}
