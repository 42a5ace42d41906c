"""Bad input gets a message on the form or a 4xx JSON body, never a 500, and changes nothing.

One test per kind of input that used to reach the database or Python's limits unchecked.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from customers.models import CustomerTag, Note
from portal.models import AuditEvent
from tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true", "HX-Target": "directory-results"}


@pytest.fixture
def customer(db):
    return CustomerFactory(first_name="Grace", last_name="Hopper")


@pytest.fixture
def api(api_client_for, agent):
    client = api_client_for(agent)
    client.raise_request_exception = False
    return client


def error_of(response) -> dict:
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


# ---- Sign-in ---------------------------------------------------------------------------------------------------

def test_a_username_longer_than_any_account_is_a_form_error(client):
    client.raise_request_exception = False
    response = client.post(reverse("login"), {"username": "u" * 300, "password": "whatever-it-is"})
    assert response.status_code == 200
    assert "at most 150 characters" in response.content.decode()


# ---- Far dates on the directory --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["joined_before", "joined_after"])
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_far_date_on_the_directory_page_is_a_message(agent_client, name, day):
    agent_client.raise_request_exception = False
    for headers in ({}, HTMX):
        response = agent_client.get(reverse("customers:directory"), {name: day}, headers=headers)
        assert response.status_code == 200
        assert "Pick a date between 1900-01-01 and 2199-12-31" in response.content.decode()


@pytest.mark.parametrize("name", ["joined_before", "joined_after"])
def test_a_far_date_in_the_api_is_a_400(api, name):
    response = api.get("/api/v1/customers", {name: "9999-12-31"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_parameters"
    assert "1900-01-01" in error["message"]


# ---- Control characters ----------------------------------------------------------------------------------------

def test_a_nul_in_a_tag_suggestion_query_is_a_400(agent_client, customer):
    agent_client.raise_request_exception = False
    response = agent_client.get(reverse("customers:tag_suggest", kwargs={"public_id": customer.public_id}),
                                {"name": "v\x00ip"})
    assert response.status_code == 400
    assert "control character" in response.content.decode()


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}])
def test_a_nul_in_a_note_on_the_page_changes_nothing(agent_client, customer, headers):
    agent_client.raise_request_exception = False
    response = agent_client.post(reverse("customers:note_add", kwargs={"public_id": customer.public_id}),
                                 {"body": "call\x00back"}, headers=headers)
    assert response.status_code == 400
    assert not Note.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("body", ["call\x00back", "ring\x07", "\ud800"])
def test_a_control_character_in_an_api_note_is_a_400(api, customer, body):
    response = api.post(f"/api/v1/customers/{customer.public_id}/notes", json.dumps({"body": body}),
                        content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_characters"
    assert not Note.objects.exists()


def test_newlines_and_tabs_in_a_note_are_kept(api, customer):
    response = api.post(f"/api/v1/customers/{customer.public_id}/notes", {"body": "one\r\n\ttwo"},
                        content_type="application/json")
    assert response.status_code == 201
    assert Note.objects.get().body == "one\n\ttwo"


def test_a_nul_in_a_tag_delete_is_a_400(api, customer):
    CustomerTag.objects.create(customer=customer, tag=TagFactory(name="vip"))
    response = api.delete(f"/api/v1/customers/{customer.public_id}/tags/vip%00")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_characters"
    assert CustomerTag.objects.count() == 1


# ---- JSON bodies -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000, '{"body": ' + "[" * 100 + "]" * 100 + "}"],
                         ids=["100000-levels", "deep-inside-a-field"])
def test_deeply_nested_json_is_a_400(api, customer, body):
    response = api.post(f"/api/v1/customers/{customer.public_id}/notes", body, content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


@pytest.mark.parametrize("body", ['{"body": NaN}', '{"body": Infinity}', '{"amount": 1e999}'])
def test_numbers_json_does_not_have_are_a_400(api, customer, body):
    response = api.post(f"/api/v1/customers/{customer.public_id}/notes", body, content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_a_body_over_the_upload_limit_is_a_413_json(api, customer, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post(f"/api/v1/customers/{customer.public_id}/notes", {"body": "x" * 2000},
                        content_type="application/json")
    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"
    assert not Note.objects.exists()


def test_an_oversized_form_body_on_an_api_route_is_a_413_json(customer, agent, settings):
    """Session writes read the form body for the CSRF check, before the endpoint runs."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = Client(raise_request_exception=False)
    client.force_login(agent)
    response = client.post(f"/api/v1/customers/{customer.public_id}/notes", {"body": "x" * 2000})
    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"


def test_a_multipart_body_on_an_api_write_is_a_400(api, customer):
    """The API reads JSON; a form body (read as a form by nobody) is not JSON, whatever the headers say."""
    response = api.post(f"/api/v1/customers/{customer.public_id}/notes", {"body": "Called back."},
                        headers={"Idempotency-Key": "k1"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_a_multipart_body_on_an_api_write_is_a_400_for_session_callers_too(customer, agent):
    """Their CSRF check parses the form body; the endpoint still reads the raw body after it."""
    client = Client(raise_request_exception=False)
    client.force_login(agent)
    response = client.post(f"/api/v1/customers/{customer.public_id}/notes", {"body": "Called back."},
                           headers={"Idempotency-Key": "k1"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"
    assert not Note.objects.exists()


# ---- Pages ------------------------------------------------------------------------------------------------------

def test_a_load_more_target_on_a_tab_without_pages_gets_the_whole_page(agent_client, customer):
    agent_client.raise_request_exception = False
    response = agent_client.get(reverse("customers:profile", kwargs={"public_id": customer.public_id}),
                                headers={"HX-Request": "true", "HX-Target": "subscriptions-more"})
    assert response.status_code == 200
    assert "profile-header" in response.content.decode()


# ---- Errors under /api/ are JSON -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v2/customers", "/api/v1/customers/cus_x/nope/"])
def test_an_unknown_api_url_is_a_json_404(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_an_unknown_api_url_is_a_json_404_for_anonymous_callers_too():
    response = Client().get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_an_unexpected_error_in_an_endpoint_is_a_json_500(api, monkeypatch, caplog):
    from portal import api_views

    def explode(user):
        raise RuntimeError("boom")

    monkeypatch.setattr(api_views, "role_of", explode)
    response = api.get("/api/v1/me")
    assert response.status_code == 500
    assert error_of(response)["code"] == "server_error"
    assert any(record.levelname == "ERROR" for record in caplog.records)


def test_pages_keep_their_html_error_pages(agent_client):
    response = agent_client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
