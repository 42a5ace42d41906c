"""The header search's dropdown (customers:search_matches): the directory's search, its first matches, logged."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.views.directory import SEARCH_MATCHES
from portal.models import AccessLog
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/customers/matches/"
HTMX = {"HX-Request": "true", "HX-Target": "search-matches"}


@pytest.fixture
def smiths(db):
    """Twelve Smiths, newest first by number, and one Jones."""
    now = timezone.now()
    people = [CustomerFactory(first_name=f"Anna{n}", last_name="Smith", email=f"anna{n}.smith@example.com",
                              registered_at=now - timedelta(days=n)) for n in range(12)]
    CustomerFactory(first_name="Bob", last_name="Jones", email="bob@jones.example")
    return people


def _names(response) -> list[str]:
    return re.findall(r'<span class="search-match-name">([^<]+)</span>', response.content.decode())


def _directory_names(client, q) -> list[str]:
    body = client.get("/customers/", {"q": q}).content.decode()
    return re.findall(r'<td class="col-name"><a href="[^"]+">([^<]+)</a>', body)


def test_it_needs_the_view_customers_capability(client_for, outsider, smiths):
    assert client_for(outsider).get(URL, {"q": "smith"}, headers=HTMX).status_code == 403


def test_it_sends_anonymous_visitors_to_sign_in(client):
    response = client.get(URL, {"q": "smith"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_refuses_post(agent_client):
    assert agent_client.post(URL, {"q": "smith"}).status_code == 405


def test_it_lists_the_directory_s_first_matches_with_a_link_to_all_of_them(agent_client, smiths):
    response = agent_client.get(URL, {"q": "SMITH"}, headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    # The same search rule and order as the directory, cut to the dropdown's size.
    assert _names(response) == _directory_names(agent_client, "SMITH")[:SEARCH_MATCHES]
    assert len(_names(response)) == SEARCH_MATCHES == 8
    assert f'href="/customers/{smiths[0].public_id}/"' in body and 'role="option"' in body
    assert 'id="search-match-all" href="/customers/?q=SMITH"' in body
    assert re.search(r"All 12 matches\s+in the directory", body)
    assert "<html" not in body


def test_each_listed_customer_s_read_is_logged(agent_client, agent, smiths):
    agent_client.get(URL, {"q": "anna1"}, headers=HTMX)  # anna1, anna10, anna11
    logged = set(AccessLog.objects.values_list("customer", "user", "view"))
    assert logged == {(person.pk, agent.pk, "customers:search_matches") for person in smiths
                      if person.first_name.startswith("Anna1")}


def test_an_identifier_finds_its_customer(agent_client, smiths):
    anna = smiths[3]
    for term in (anna.public_id, anna.email, anna.public_id[:7]):
        response = agent_client.get(URL, {"q": term}, headers=HTMX)
        assert anna.full_name in _names(response), term


def test_no_match_offers_the_directory_s_suggestions(agent_client, smiths):
    response = agent_client.get(URL, {"q": "nobody-like-this"}, headers=HTMX)
    body = response.content.decode()
    assert _names(response) == []
    assert "No customer matches “nobody-like-this”" in body and 'href="/customers/?q=nobody-like-this"' in body
    assert not AccessLog.objects.exists()


def test_a_blank_box_answers_nothing_and_reads_nothing(agent_client, smiths, django_assert_max_num_queries):
    agent_client.get("/healthz")  # the session's once-a-minute write happens here
    for q in ("", "   ", None):
        with django_assert_max_num_queries(2):  # the session and the user, nothing of the customers
            response = agent_client.get(URL, {} if q is None else {"q": q}, headers=HTMX)
        assert response.status_code == 200 and response.content == b""


def test_a_term_the_directory_refuses_gets_its_sentence(agent_client, smiths):
    response = agent_client.get(URL, {"q": "x" * 201}, headers=HTMX)
    assert response.status_code == 200
    assert "at most 200 characters" in response.content.decode() and 'role="alert"' in response.content.decode()


def test_a_control_character_is_refused_by_the_input_rule_every_route_shares(agent_client, smiths):
    response = agent_client.get(URL, {"q": "ada\x00"}, headers=HTMX)
    assert response.status_code == 400 and "control character (such as NUL)" in response.content.decode()
    assert "toast" in response["HX-Trigger"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.one_of(st.text(max_size=220), st.sampled_from(["%", "_", "\\", "cus_", "sub_", "sub_zzzz", "@", "a@b.c",
                                                           "'; drop table x; --", "%%__", "cus_" + "z" * 40])))
def test_no_input_makes_it_fail(agent_client, q):
    response = agent_client.get(URL, {"q": q}, headers=HTMX)
    assert response.status_code == 200 or (response.status_code == 400 and "control character" in
                                           response.content.decode())


def test_it_costs_a_fixed_number_of_queries(agent_client, smiths, django_assert_max_num_queries):
    agent_client.get(URL, {"q": "smith"}, headers=HTMX)  # the shared lookups and the session's write happen here
    # The session and the user with roles = 2; the directory's search: an estimate, the page, a capped count = 3;
    # one INSERT of the access-log rows.
    for q in ("smith", "an", "anna1", smiths[0].public_id, smiths[0].email):
        with django_assert_max_num_queries(6):
            response = agent_client.get(URL, {"q": q}, headers=HTMX)
        assert response.status_code == 200 and _names(response)
