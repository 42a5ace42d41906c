"""The customer directory page: search by every identifier, filters, sorts, keyset pages, counts, bad input."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Customer
from customers.selectors.directory import SORT_COLUMNS
from customers.selectors.directory import filling as selector
from portal.models import AccessLog
from portal.money import to_reporting
from segments.models import Segment, SegmentMembership
from subscriptions.models import Subscription
from tests.factories import CustomerFactory, PlanFactory, StorefrontFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
URL = "/customers/"
HTMX = {"HX-Request": "true", "HX-Target": "directory-results"}
T0 = datetime(2024, 1, 1, 12, 0, tzinfo=dt_timezone.utc)


@pytest.fixture
def catalog(db):
    """Two storefronts and three plans whose display order differs from their ids (and their codes)."""
    return {
        "web": StorefrontFactory(code="web", name="Web"),
        "app_store": StorefrontFactory(code="app-store", name="App Store", kind="app_store"),
        "premium": PlanFactory(code="premium", name="Premium", price=3900, rank=3),
        "basic": PlanFactory(code="basic", name="Basic", price=900, rank=1),
        "standard": PlanFactory(code="standard", name="Standard", price=1900, rank=2),
    }


def make(catalog, first="Ada", last="Lovelace", email=None, *, status="inactive", plan=None, mrr=0,
         currency="USD", storefront="web", country="GB", days=0):
    return CustomerFactory(first_name=first, last_name=last, email=email or f"{first}.{last}@example.com".lower(),
                           status=status, plan=catalog[plan] if plan else None, mrr=mrr, currency=currency,
                           storefront=catalog[storefront], country=country,
                           registered_at=T0 + timedelta(days=days))


@pytest.fixture
def people(catalog):
    return {
        "john": make(catalog, "John", "Smith", "john.smith@x.com", status="active", plan="premium", mrr=3900,
                     country="US", days=10),
        "johanna": make(catalog, "Johanna", "Smithers", "jo.smithers@mail.de", status="churned", country="DE",
                        storefront="app_store", days=20),
        "grace": make(catalog, "Grace", "Hopper", "grace@navy.mil", status="active", plan="basic", mrr=900,
                      country="US", days=30),
        "alan": make(catalog, "Alan", "Turing", "alan.turing@bletchley.uk", days=40),
    }


def _listed_names(response) -> list[str]:
    """The names in the result rows, read from the HTML (htmx partials carry no template context)."""
    return re.findall(r'<td class="col-name"><a href="[^"]+">([^<]+)</a>', response.content.decode())


def listed(agent_client, **params) -> list[str]:
    response = agent_client.get(URL, params)
    assert response.status_code == 200
    return _listed_names(response)


# --- Roles and side effects ---------------------------------------------------------------------------------


def test_it_needs_the_view_customers_capability(client_for, outsider, people):
    assert client_for(outsider).get(URL).status_code == 403


def test_it_sends_anonymous_visitors_to_sign_in(client, people):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_lists_newest_first_and_logs_a_read_of_each_listed_customer(agent_client, agent, people):
    assert listed(agent_client) == ["Alan Turing", "Grace Hopper", "Johanna Smithers", "John Smith"]
    # Each row shows a name and an email: one AccessLog row per customer listed, written in one INSERT.
    rows = set(AccessLog.objects.values_list("customer", "user", "view"))
    assert rows == {(person.pk, agent.pk, "customers:directory") for person in people.values()}


def test_it_refuses_post(agent_client):
    assert agent_client.post(URL).status_code == 405


# --- Search: every identifier --------------------------------------------------------------------------------


@pytest.mark.parametrize("term, expected", [
    ("John", ["John Smith"]),  # first name (and "johanna"? no: "john" is not in "johanna")
    ("turing", ["Alan Turing"]),  # last name, any case
    ("GRACE HOPPER", ["Grace Hopper"]),  # full name
    ("ohn.sm", ["John Smith"]),  # any substring of the email
    ("SMITH", ["Johanna Smithers", "John Smith"]),
    ("@navy", ["Grace Hopper"]),
    ("bletchley.uk", ["Alan Turing"]),
])
def test_it_finds_customers_by_name_and_email_substring(agent_client, people, term, expected):
    assert listed(agent_client, q=term) == expected


def test_it_finds_a_customer_by_exact_email_before_anything_else(agent_client, catalog, people):
    make(catalog, "Ajohn", "Smith", "ajohn.smith@x.com")  # contains the email below, but is not it
    response = agent_client.get(URL, {"q": " John.Smith@X.com "}, headers=HTMX)
    assert _listed_names(response) == ["John Smith"]
    assert "Exact email match." in response.content.decode()


def test_an_email_only_one_customer_has_opens_the_profile(agent_client, catalog, people):
    response = agent_client.get(URL, {"q": "grace@navy.mil"})
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{people['grace'].public_id}/"
    make(catalog, "Grace", "Twin", "grace@navy.mil")  # a shared address: list them instead
    assert listed(agent_client, q="grace@navy.mil") == ["Grace Hopper", "Grace Twin"]


def test_an_email_nobody_has_exactly_falls_back_to_the_substring_search(agent_client, people):
    response = agent_client.get(URL, {"q": "smith@x.co"})
    assert _listed_names(response) == ["John Smith"]
    assert "Nobody has exactly the email" in response.content.decode()


def test_a_complete_customer_id_opens_the_profile(agent_client, people):
    john = people["john"]
    response = agent_client.get(URL, {"q": john.public_id.upper()})
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{john.public_id}/"


def test_an_id_lists_its_customer_when_typed_in_the_page_or_combined_with_filters(agent_client, people):
    john = people["john"]
    assert _listed_names(agent_client.get(URL, {"q": john.public_id}, headers=HTMX)) == ["John Smith"]
    assert listed(agent_client, q=john.public_id, status="active") == ["John Smith"]


def test_it_finds_customers_by_the_start_of_their_id(agent_client, people):
    john = people["john"]
    assert "John Smith" in listed(agent_client, q=john.public_id[:9])


def test_a_subscription_id_finds_its_owner(agent_client, catalog, people):
    subscription = SubscriptionFactory(customer=people["grace"], plan=catalog["basic"])
    SubscriptionFactory(customer=people["john"], plan=catalog["premium"], status=Subscription.Status.CANCELLED)
    response = agent_client.get(URL, {"q": subscription.public_id})
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{people['grace'].public_id}/"
    assert listed(agent_client, q=subscription.public_id[:10], sort="name") == ["Grace Hopper"]


def test_a_short_term_matches_the_start_of_names_and_emails(agent_client, people):
    assert listed(agent_client, q="jo", sort="name") == ["John Smith", "Johanna Smithers"]
    assert listed(agent_client, q="h") == ["Grace Hopper"]  # last name
    assert listed(agent_client, q="g") == ["Grace Hopper"]  # first name and email, once


def test_like_wildcards_in_the_term_match_only_themselves(agent_client, catalog, people):
    make(catalog, "Under", "Score", "under_score@example.com")
    assert listed(agent_client, q="r_s") == ["Under Score"]
    assert listed(agent_client, q="%") == []
    assert listed(agent_client, q="n%t") == []


# --- Filters ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params, expected", [
    ({"status": "active"}, ["Grace Hopper", "John Smith"]),
    ({"status": "churned"}, ["Johanna Smithers"]),
    ({"status": "inactive"}, ["Alan Turing"]),
    ({"plan": "basic"}, ["Grace Hopper"]),
    ({"plan": "none"}, ["Alan Turing", "Johanna Smithers"]),
    ({"storefront": "app-store"}, ["Johanna Smithers"]),
    ({"region": "US"}, ["Grace Hopper", "John Smith"]),
    ({"joined_after": "2024-01-22"}, ["Alan Turing", "Grace Hopper"]),
    ({"joined_before": "2024-01-21"}, ["Johanna Smithers", "John Smith"]),  # inclusive: the whole day
    ({"joined_after": "2024-01-22", "joined_before": "2024-01-31"}, ["Grace Hopper"]),
    ({"status": "active", "region": "US", "q": "grace"}, ["Grace Hopper"]),
    ({"q": "smith", "storefront": "web"}, ["John Smith"]),
])
def test_each_filter_narrows_the_list(agent_client, people, params, expected):
    assert listed(agent_client, **params) == expected


def test_the_segment_filter_uses_memberships(agent_client, people):
    at_risk = Segment.objects.get(code="at_risk")
    for person in ("john", "alan"):
        SegmentMembership.objects.create(customer=people[person], segment=at_risk, reason="test", since=T0)
    assert listed(agent_client, segment="at_risk") == ["Alan Turing", "John Smith"]
    assert listed(agent_client, segment="at_risk", q="smith") == ["John Smith"]
    assert listed(agent_client, segment="loyal") == []  # empty until the segments job fills it


def test_the_form_offers_the_regions_and_choices_present(agent_client, people):
    page = agent_client.get(URL).content.decode()
    for option in ('value="US">United States', 'value="DE">Germany', 'value="GB">United Kingdom',
                   'value="basic">Basic', 'value="none">No plan', 'value="app-store">App Store',
                   'value="high_value">High-Value'):
        assert option in page, option


# --- Sorting ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sort, expected", [
    ("name", ["Grace Hopper", "John Smith", "Johanna Smithers", "Alan Turing"]),  # by last name
    ("-name", ["Alan Turing", "Johanna Smithers", "John Smith", "Grace Hopper"]),
    ("email", ["Alan Turing", "Grace Hopper", "Johanna Smithers", "John Smith"]),
    ("-email", ["John Smith", "Johanna Smithers", "Grace Hopper", "Alan Turing"]),
    ("status", ["John Smith", "Grace Hopper", "Johanna Smithers", "Alan Turing"]),  # active, churned, inactive
    ("-status", ["Alan Turing", "Johanna Smithers", "Grace Hopper", "John Smith"]),
    ("plan", ["Grace Hopper", "John Smith", "Johanna Smithers", "Alan Turing"]),  # Basic, Premium, no plan
    ("-plan", ["Alan Turing", "Johanna Smithers", "John Smith", "Grace Hopper"]),
    ("mrr", ["Johanna Smithers", "Alan Turing", "Grace Hopper", "John Smith"]),  # ties by id
    ("-mrr", ["John Smith", "Grace Hopper", "Alan Turing", "Johanna Smithers"]),
    ("since", ["John Smith", "Johanna Smithers", "Grace Hopper", "Alan Turing"]),
    ("-since", ["Alan Turing", "Grace Hopper", "Johanna Smithers", "John Smith"]),
    ("storefront", ["Johanna Smithers", "John Smith", "Grace Hopper", "Alan Turing"]),  # App Store, Web
    ("-storefront", ["Alan Turing", "Grace Hopper", "John Smith", "Johanna Smithers"]),
])
def test_every_column_sorts_both_ways(agent_client, people, sort, expected):
    assert listed(agent_client, sort=sort) == expected


def test_the_sorted_header_carries_aria_sort_and_links_the_other_direction(agent_client, people):
    page = agent_client.get(URL, {"sort": "name"}).content.decode()
    assert 'aria-sort="ascending"' in page
    assert 'href="/customers/?sort=-name"' in page
    assert page.count("aria-sort=") == 1


def test_mrr_sorts_in_one_currency_and_shows_each_customers_own(agent_client, catalog):
    """€20 (21.60 USD at the default rate) above $21 above $10; the cells keep €20.00 and $21.00."""
    make(catalog, "Euro", "Twenty", mrr=2000, currency="EUR", status="active")
    make(catalog, "Dollar", "Twentyone", mrr=2100, currency="USD", status="active")
    make(catalog, "Dollar", "Ten", mrr=1000, currency="USD", status="active")
    response = agent_client.get(URL, {"sort": "-mrr"})
    assert _listed_names(response) == ["Euro Twenty", "Dollar Twentyone", "Dollar Ten"]
    html = response.content.decode()
    assert "€20.00" in html and "$21.00" in html
    assert "Sorted in USD at configured rates: 1 EUR = 1.08 USD, 1 GBP = 1.27 USD." in html


def test_rows_mark_trial_grace_paused_and_suspended_with_their_dates(agent_client, catalog, settings):
    settings.PORTAL = {**settings.PORTAL, "DUNNING_RETRY_DAYS": [1, 3, 5, 7]}
    trial = make(catalog, "Tess", "Trial", status="active", plan="basic", days=1)
    trial.subscription_state, trial.trial_ends_at = "trial", datetime(2024, 6, 14, 12, 0, tzinfo=dt_timezone.utc)
    grace = make(catalog, "Gus", "Grace", status="active", plan="basic", mrr=900, days=2)
    grace.subscription_state = "grace"
    grace.payment_failing_since = datetime(2024, 6, 2, 12, 0, tzinfo=dt_timezone.utc)
    paused = make(catalog, "Pat", "Paused", status="active", plan="basic", days=3)
    paused.subscription_state, paused.resumes_on = "paused", datetime(2024, 7, 1).date()
    suspended = make(catalog, "Sue", "Suspended", days=4)
    suspended.subscription_state = "suspended"
    for customer in (trial, grace, paused, suspended):
        customer.save()
    html = agent_client.get(URL).content.decode()
    rows = {name: row for row in re.findall(r"<tr data-row-href.*?</tr>", html, re.S)
            for name in re.findall(r'<td class="col-name"><a href="[^"]+">([^<]+)</a>', row)}
    text = {name: re.sub(r"<[^>]+>", "", row) for name, row in rows.items()}
    assert "status-trial" in rows["Tess Trial"] and "Active Trial ends 2024-06-14" in text["Tess Trial"]
    assert 'title="No MRR during the trial"' in rows["Tess Trial"]
    assert "payment failing since 2024-06-02, access until 2024-06-09" in text["Gus Grace"]
    assert "Paused resumes 2024-07-01" in text["Pat Paused"]
    assert "status-suspended" in rows["Sue Suspended"]


# --- Keyset pages -------------------------------------------------------------------------------------------


@pytest.fixture
def crowd(catalog):
    """70 customers with many ties on every sort key except id, spread over statuses, plans, storefronts and
    currencies (in the MRR sort 900 GBP ranks above 1,000 USD, which raw numbers would not)."""
    statuses = ["active", "inactive", "churned"]
    plans = ["premium", "basic", None, "standard"]
    rows = []
    for n in range(70):
        rows.append(make(catalog, first=f"Zed{n % 4}", last=f"Same{n % 3}", email=f"dup{n % 5}@example.com",
                         status=statuses[n % 3], plan=plans[n % 4], mrr=[0, 900, 3900, 1000][n % 4],
                         currency=["USD", "EUR", "GBP", "USD", "EUR"][n % 5],
                         storefront="web" if n % 2 else "app_store", country="US", days=n % 6))
    return rows


def walk_pages(agent_client, params, *, per_page=25):
    """Every page via `next`, then back again via `previous`; returns (forward ids, backward ids)."""
    api = reverse("api_customer_list")
    forward, pages, cursor = [], [], None
    while True:
        query = {**params, "per_page": per_page, **({"cursor": cursor} if cursor else {})}
        body = agent_client.get(api, query).json()
        pages.append(body)
        forward += [row["id"] for row in body["results"]]
        cursor = body["next"]
        if not cursor:
            break
    backward = [row["id"] for row in pages[-1]["results"]]
    cursor = pages[-1]["previous"]
    while cursor:
        body = agent_client.get(api, {**params, "per_page": per_page, "cursor": cursor}).json()
        backward = [row["id"] for row in body["results"]] + backward
        cursor = body["previous"]
    return forward, backward


def reference_order(sort: str, *, only=None) -> list[str]:
    """The order each sort promises, computed in Python (the database collation sorts by code point)."""
    descending, key = sort.startswith("-"), sort.lstrip("-")
    plan_rank = {code: rank for rank, code in enumerate(["basic", "standard", "premium"])}
    store_rank = {"app-store": 0, "web": 1}
    keys = {
        "name": lambda c: (c.last_name, c.first_name, c.id),
        "email": lambda c: (c.email, c.id),
        "status": lambda c: (c.status, c.id),
        "plan": lambda c: (plan_rank[c.plan.code] if c.plan else len(plan_rank), c.id),
        "mrr": lambda c: (to_reporting(c.mrr, c.currency), c.id),  # one currency at the configured rates
        "since": lambda c: (c.registered_at, c.id),
        "storefront": lambda c: (store_rank[c.storefront.code], c.id),
    }
    customers = Customer.objects.select_related("plan", "storefront").filter(**(only or {}))
    return [c.public_id for c in sorted(customers, key=keys[key], reverse=descending)]


def gather_limit(value: int) -> dict:
    return {"GATHER_LIMIT": value, "GATHER_LIMIT_COVERED": value}


STRATEGIES = {
    "planner": {},  # as shipped: the planner walks, scattered conditions gather or walk by estimate
    "gather": gather_limit(10**9),
    "gather overflows, walk": {**gather_limit(5), "_planner_estimate": lambda conditions: 0},
    "walk": gather_limit(-1),
    "walk gives up, gather": {**gather_limit(-1), "WALK_BUDGET_PER_ROW": 1},
}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pages_have_no_duplicates_or_gaps_in_any_sort(agent_client, crowd, monkeypatch, strategy):
    for name, value in STRATEGIES[strategy].items():
        monkeypatch.setattr(selector, name, value)
    search = {"q": "example"} if STRATEGIES[strategy] else {}  # a scattered condition: the strategy applies
    for sort in [direction + column for column in SORT_COLUMNS for direction in ("", "-")]:
        forward, backward = walk_pages(agent_client, {"sort": sort, **search})
        expected = reference_order(sort)
        assert forward == expected, sort
        assert backward == expected, sort


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pages_stay_complete_with_filters_and_a_segment(agent_client, crowd, monkeypatch, strategy):
    for name, value in STRATEGIES[strategy].items():
        monkeypatch.setattr(selector, name, value)
    churned = Segment.objects.get(code="churned")
    for customer in crowd[::2]:
        SegmentMembership.objects.create(customer=customer, segment=churned, reason="test", since=T0)
    members = {c.public_id for c in crowd[::2]}
    for sort in ("-mrr", "name", "plan"):
        forward, backward = walk_pages(agent_client, {"sort": sort, "segment": "churned", "region": "US"})
        expected = [pid for pid in reference_order(sort) if pid in members]
        assert forward == expected == backward, sort


def test_the_page_links_carry_the_cursor_and_keep_the_filters(agent_client, crowd):
    response = agent_client.get(URL, {"region": "US", "sort": "name"})
    next_url = response.context["page_links"]["next"]
    query = parse_qs(urlsplit(next_url).query)
    assert query["region"] == ["US"] and query["sort"] == ["name"] and query["cursor"]
    second = agent_client.get(next_url)
    assert len(second.context["page"].rows) == 25
    assert second.context["page_links"]["previous"] and "« First page" in second.content.decode()
    assert not {c.id for c in second.context["page"].rows} & {c.id for c in response.context["page"].rows}


def test_per_page_sets_the_page_size(agent_client, crowd):
    assert len(listed(agent_client, per_page=50)) == 50
    assert len(listed(agent_client, per_page=100)) == 70


# --- Counts -------------------------------------------------------------------------------------------------


def test_the_count_is_exact_when_small(agent_client, crowd):
    response = agent_client.get(URL, {"status": "active"})
    assert response.context["page"].count == selector.ResultCount(24, True)
    assert "24 customers" in response.content.decode()


def test_the_count_is_an_estimate_when_large_and_says_so(agent_client, crowd, monkeypatch):
    monkeypatch.setattr(selector, "COUNT_CAP", 10)
    response = agent_client.get(URL)
    count = response.context["page"].count
    assert not count.exact and count.value > 10
    assert "(estimate)" in response.content.decode()
    assert "About" in response.content.decode()


def test_a_walked_search_estimates_its_count_from_what_the_walk_saw(agent_client, crowd, monkeypatch):
    for name, value in gather_limit(-1).items():
        monkeypatch.setattr(selector, name, value)
    response = agent_client.get(URL, {"q": "example", "region": "US"})
    count = response.context["page"].count
    assert not count.exact  # every row the walk read matched: the estimate is the rows the filters keep
    assert "(estimate)" in response.content.decode()


def test_a_single_page_counts_itself(agent_client, people):
    response = agent_client.get(URL, {"q": "smith"})
    assert response.context["page"].count == selector.ResultCount(2, True)
    assert "2 customers" in response.content.decode()


# --- Bad input: a message, never a 500 ----------------------------------------------------------------------


@pytest.mark.parametrize("params, message", [
    ({"status": "asleep"}, "Select a valid choice"),
    ({"plan": "gold"}, "Select a valid choice"),
    ({"segment": "vip"}, "Select a valid choice"),
    ({"region": "XX"}, "Select a valid choice"),
    ({"joined_after": "2024-13-45"}, "Enter a valid date"),
    ({"joined_after": "2024-02-01", "joined_before": "2024-01-01"}, "The end date is before the start date"),
    ({"sort": "password"}, "Select a valid choice"),
    ({"per_page": "1000000"}, "Select a valid choice"),
    ({"q": "x" * 201}, "at most 200 characters"),
    ({"joined_before": "9999-12-31"}, "Pick a date between 1900-01-01 and 2199-12-31"),
])
def test_bad_parameters_get_a_friendly_message(agent_client, people, params, message):
    response = agent_client.get(URL, params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["page"] is None


def test_a_control_character_in_the_search_is_refused_before_the_search(agent_client, people):
    """Refused for every route at once (portal.middleware.RequestInputMiddleware), with the same sentence."""
    response = agent_client.get(URL, {"q": "ada\x00"})
    assert response.status_code == 400
    assert "control character (such as NUL)" in response.content.decode()


@pytest.mark.parametrize("cursor", ["garbage", "W10:1abc:xyz", "W10.forged", "", "%00", "x" * 5000])
def test_a_garbage_cursor_shows_the_first_page_with_a_notice(agent_client, people, cursor):
    response = agent_client.get(URL, {"cursor": cursor})
    assert response.status_code == 200
    assert listed(agent_client) == _listed_names(response)
    if cursor:
        assert "This page link is not valid" in response.content.decode()


def test_a_cursor_made_for_another_sort_is_refused(agent_client, crowd):
    cursor = agent_client.get(URL, {"sort": "name"}).context["page"].next_cursor
    response = agent_client.get(URL, {"sort": "email", "cursor": cursor})
    assert "This page link is not valid" in response.content.decode()
    assert _listed_names(response) == listed(agent_client, sort="email")[:25]


def test_a_cursor_of_another_list_is_refused(agent_client, crowd):
    from portal.cursors import encode_cursor

    response = agent_client.get(URL, {"cursor": encode_cursor(["-since", 0, ["2024-01-01T00:00:00+00:00", 1]],
                                                              salt="customers.profile")})
    assert "This page link is not valid" in response.content.decode()


def test_a_tampered_cursor_is_refused(agent_client, crowd):
    cursor = agent_client.get(URL).context["page"].next_cursor
    payload, _, signature = cursor.rpartition(".")
    response = agent_client.get(URL, {"cursor": payload[:-2] + "AA." + signature})
    assert "This page link is not valid" in response.content.decode()


# --- htmx, empty results ------------------------------------------------------------------------------------


def test_htmx_gets_only_the_results_and_the_canonical_url(agent_client, people):
    response = agent_client.get(URL, {"q": "smith", "status": "", "plan": "", "sort": "-since", "per_page": "25"},
                                headers=HTMX)
    body = response.content.decode()
    assert "<html" not in body and 'id="directory-filters"' not in body
    assert "data-row-list" in body and 'data-row-href="/customers/' in body
    assert response["HX-Push-Url"] == "/customers/?q=smith"


def test_a_history_restore_gets_the_full_page(agent_client, people):
    response = agent_client.get(URL, {"q": "smith"}, headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in response.content.decode()


def test_the_full_page_has_the_search_box_rows_and_accessible_table(agent_client, people):
    body = agent_client.get(URL, {"q": "grace"}).content.decode()
    assert body.count('name="q"') == 1  # the top bar's box is this page's search
    assert 'id="global-search"' in body and 'form="directory-filters" value="grace"' in body
    assert 'hx-trigger="submit, input changed delay:250ms from:#global-search, change from:.directory-filter-row"' in body
    assert "<caption" in body and 'scope="col"' in body
    assert f'href="/customers/{people["grace"].public_id}/"' in body


def test_an_empty_result_explains_and_offers_searches_that_might_work(agent_client, people):
    response = agent_client.get(URL, {"q": "maria.gonzalez@example.com", "status": "active"})
    body = response.content.decode()
    assert "No customer matches “maria.gonzalez@example.com” with these filters" in body
    assert "Try the customer ID" in body and "part of the email" in body
    labels = [s["label"] for s in response.context["suggestions"]]
    assert labels == ["Search all customers, without the filters",
                      "Search for the part before the @, “maria.gonzalez”", "Search for the domain, “example.com”"]
    assert 'href="/customers/?q=maria.gonzalez%40example.com"' in body


def test_an_empty_name_search_suggests_each_word(agent_client, people):
    response = agent_client.get(URL, {"q": "Ada Byron"})
    assert [s["url"] for s in response.context["suggestions"]] == ["/customers/?q=byron", "/customers/?q=ada"]


# --- Query budget -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [
    {}, {"q": "example"}, {"q": "zed1 same2"}, {"status": "churned", "sort": "mrr"}, {"sort": "plan"},
    {"segment": "new", "region": "US", "storefront": "web", "plan": "basic"}, {"q": "du", "sort": "-storefront"},
])
def test_a_page_costs_a_fixed_number_of_queries(agent_client, crowd, django_assert_max_num_queries, params):
    cursor = agent_client.get(URL, params).context["page"].next_cursor
    # Kernel, on every page: the session, the user with their roles = 2 (the session is written once a minute),
    # and one INSERT of the access-log rows of the customers listed.
    # Directory: the lookups are shared (read by the first request), then estimate(s) + the page + a capped count.
    with django_assert_max_num_queries(8):
        response = agent_client.get(URL, {**params, **({"cursor": cursor} if cursor else {})})
    assert response.status_code == 200


def test_a_complete_identifier_opens_the_profile_with_one_query_of_its_own(agent_client, catalog, people,
                                                                           django_assert_num_queries):
    john = people["john"]
    subscription = SubscriptionFactory(customer=john, plan=catalog["premium"])
    agent_client.get("/healthz")  # the session's once-a-minute write happens here, not below
    for term in (john.public_id, subscription.public_id, john.email):
        with django_assert_num_queries(3):  # session, user with roles, the lookup
            response = agent_client.get(URL, {"q": term})
        assert response["Location"] == f"/customers/{john.public_id}/"


def test_the_lookups_are_shared_between_requests_and_read_again_after_a_change(agent_client, people, catalog,
                                                                              django_assert_num_queries):
    from customers.selectors.directory import DirectoryLookups
    from subscriptions.models import Plan

    first = DirectoryLookups.current()
    assert DirectoryLookups.current() is first
    assert [p.code for p in first.plans] == [p.code for p in Plan.objects.order_by("rank", "price", "name")]
    read_all = lambda lookups: (lookups.plans, lookups.storefronts, lookups.regions, lookups.segments)  # noqa: E731
    read_all(first)
    with django_assert_num_queries(0):  # read once, then kept
        read_all(DirectoryLookups.current())
    Plan.objects.create(code="titanium", name="Titanium", price=99_00, rank=9)
    assert "titanium" in [p.code for p in DirectoryLookups.current().plans]
    assert "Titanium" in agent_client.get(URL).content.decode()


# --- No sequential scan: every query shape has an index path ------------------------------------------------


SHAPES = [
    {}, {"q": "smith"}, {"q": "ohn.sm"}, {"q": "john.smith@x.com"}, {"q": "jo"}, {"q": "cus_abc"},
    {"q": "sub_abcd"}, {"status": "active", "sort": "mrr"}, {"plan": "basic", "sort": "plan"},
    {"storefront": "web", "sort": "storefront"}, {"region": "US", "sort": "-email"},
    {"joined_after": "2024-01-02", "sort": "name"}, {"segment": "new", "sort": "-since"}, {"sort": "status"},
]


@pytest.mark.parametrize("params", SHAPES)
def test_no_query_shape_needs_a_sequential_scan_of_customers(agent_client, people, params):
    """With sequential scans priced out, Postgres still shows a Seq Scan when no index can serve the query.

    (On a table this small it would choose one anyway; the 1M-row plans are in bench/directory.py's output.)
    """
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    try:
        plans = explain_all(agent_client, params)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
    assert plans and not [plan for plan in plans if "Seq Scan on customers_customer" in plan]


def explain_all(agent_client, params) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        agent_client.get(URL, params)
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if "customers_customer" in sql and not sql.startswith("EXPLAIN"):
                cursor.execute("EXPLAIN " + sql)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans
