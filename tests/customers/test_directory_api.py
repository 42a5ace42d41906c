"""GET /api/v1/customers: the directory as JSON, same parameters and permissions as the page."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from datetime import timezone as dt_timezone

import pytest

from customers.selectors.directory import filling as selector
from portal.models import AccessLog
from tests.factories import CustomerFactory, PlanFactory, StorefrontFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
API = "/api/v1/customers"


@pytest.fixture
def ada(db):
    plan = PlanFactory(code="pro-monthly", name="Pro Monthly", price=2500)
    return CustomerFactory(first_name="Ada", last_name="Lovelace", email="ada@example.com", status="active",
                           plan=plan, mrr=2500, currency="GBP", country="GB",
                           storefront=StorefrontFactory(code="web", name="Web"),
                           registered_at=datetime(2024, 3, 1, 9, 30, tzinfo=dt_timezone.utc))


def test_it_returns_results_next_and_count(api_client_for, agent, ada):
    response = api_client_for(agent).get(API, {"q": "lovelace"})
    assert response.status_code == 200
    assert response.json() == {
        "results": [{"id": ada.public_id, "name": "Ada Lovelace", "email": "ada@example.com", "status": "active",
                     "plan": "pro-monthly", "mrr": {"amount": 2500, "currency": "GBP"},
                     "mrr_reporting": {"amount": 3175, "currency": "USD"},  # at the default 1 GBP = 1.27 USD
                     "subscription": {"state": None, "trial_ends_at": None, "payment_failing_since": None,
                                      "grace_ends_at": None, "resumes_on": None},
                     "since": "2024-03-01T09:30:00+00:00", "storefront": "web", "region": "GB",
                     "escalated_at": None}],
        "next": None,
        "previous": None,
        "count": {"value": 1, "exact": True},
    }
    assert list(AccessLog.objects.values_list("customer", "user", "view")) == [(ada.pk, agent.pk,
                                                                                "api_customer_list")]


def test_the_session_works_too(client_for, agent, ada):
    assert client_for(agent).get(API, {"q": ada.public_id}).json()["results"][0]["id"] == ada.public_id


def test_a_subscription_id_returns_its_owner(api_client_for, agent, ada):
    subscription = SubscriptionFactory(customer=ada, plan=ada.plan)
    body = api_client_for(agent).get(API, {"q": subscription.public_id}).json()
    assert [row["id"] for row in body["results"]] == [ada.public_id]


def test_it_needs_a_role_that_may_view_customers(api_client_for, outsider, ada):
    response = api_client_for(outsider).get(API)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_it_needs_authentication(client, ada):
    assert client.get(API).status_code == 401


def test_next_walks_every_customer_once(api_client_for, agent, ada):
    for n in range(30):
        CustomerFactory(first_name="Same", last_name="Name", email=f"same{n % 3}@example.com")
    client = api_client_for(agent)
    first = client.get(API, {"sort": "email"}).json()
    assert len(first["results"]) == 25 and first["next"]
    second = client.get(API, {"sort": "email", "cursor": first["next"]}).json()
    assert second["next"] is None and len(second["results"]) == 6
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert len(set(ids)) == 31


def test_a_large_count_is_an_estimate(api_client_for, agent, ada, monkeypatch):
    for _ in range(30):
        CustomerFactory()
    monkeypatch.setattr(selector, "COUNT_CAP", 5)
    count = api_client_for(agent).get(API).json()["count"]
    assert count["exact"] is False and count["value"] > 5


@pytest.mark.parametrize("params, fragment", [
    ({"status": "asleep"}, "Status: Select a valid choice"),
    ({"joined_before": "yesterday"}, "Joined until: Enter a valid date"),
    ({"sort": "-password"}, "Sort: Select a valid choice"),
    ({"per_page": "0"}, "Rows: Select a valid choice"),
])
def test_bad_parameters_are_a_400_naming_them(api_client_for, agent, ada, params, fragment):
    response = api_client_for(agent).get(API, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameters"
    assert fragment in error["message"]


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjoxfQ:1abc:forged", "eyJ4IjoxfQ.forged", "W10", "x" * 5000])
def test_a_garbage_cursor_is_a_400(api_client_for, agent, ada, cursor):
    response = api_client_for(agent).get(API, {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_it_refuses_writes(api_client_for, agent):
    assert api_client_for(agent).post(API).status_code == 405


def test_a_page_costs_a_fixed_number_of_queries(api_client_for, agent, ada, django_assert_max_num_queries):
    for _ in range(60):
        CustomerFactory()
    client = api_client_for(agent)
    cursor = client.get(API, {"q": "example", "sort": "name"}).json()["next"]
    # token + user (2), permissions (2); plans, storefronts, estimate, page, capped count; the access-log INSERT
    with django_assert_max_num_queries(10):
        response = client.get(API, {"q": "example", "sort": "name", "cursor": cursor})
    assert len(response.json()["results"]) == 25


@pytest.mark.parametrize("sort, expected", [
    ("-mrr", ["euro", "dollar21", "dollar10", "trial"]),
    ("mrr", ["trial", "dollar10", "dollar21", "euro"]),
])
def test_mrr_sorts_in_the_reporting_currency(api_client_for, agent, settings, sort, expected):
    """€20 is 21.60 USD at the configured rate: above $21.00, though 2000 < 2100 in raw minor units."""
    settings.EXCHANGE_RATES = {"EUR": Decimal("1.08"), "GBP": Decimal("1.27")}
    ids = {name: CustomerFactory(status="active", mrr=mrr, currency=currency).public_id
           for name, mrr, currency in (("euro", 2000, "EUR"), ("dollar21", 2100, "USD"), ("dollar10", 1000, "USD"),
                                       ("trial", 0, "EUR"))}
    body = api_client_for(agent).get(API, {"sort": sort}).json()
    names = {public_id: name for name, public_id in ids.items()}
    assert [names[row["id"]] for row in body["results"]] == expected
    euro = next(row for row in body["results"] if row["id"] == ids["euro"])
    assert euro["mrr"] == {"amount": 2000, "currency": "EUR"}  # shown in the customer's own currency
    assert euro["mrr_reporting"] == {"amount": 2160, "currency": "USD"}


def test_it_says_what_the_subscription_is_doing(api_client_for, agent, settings):
    settings.PORTAL = {**settings.PORTAL, "DUNNING_RETRY_DAYS": [1, 3, 5, 7]}
    CustomerFactory(status="active", subscription_state="grace",
                    payment_failing_since=datetime(2024, 5, 1, 8, 0, tzinfo=dt_timezone.utc))
    row = api_client_for(agent).get(API).json()["results"][0]
    assert row["subscription"] == {"state": "grace", "trial_ends_at": None,
                                   "payment_failing_since": "2024-05-01T08:00:00+00:00",
                                   "grace_ends_at": "2024-05-08T08:00:00+00:00", "resumes_on": None}
