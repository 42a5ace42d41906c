"""Idempotency-Key: the same write sent again, or sent twice at once, executes once (portal/idempotency.py)."""

import json
import threading
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from customers.models import Note
from portal.models import IdempotentRequest
from portal.roles import sync_roles
from tests.factories import CustomerFactory, UserFactory


def _notes_path(customer):
    return f"/api/v1/customers/{customer.public_id}/notes"


def _post(client, customer, body, key):
    return client.post(_notes_path(customer), data=json.dumps({"body": body}), content_type="application/json",
                       headers={"Idempotency-Key": key})


@pytest.fixture
def api(agent, api_client_for):
    return api_client_for(agent)


@pytest.mark.django_db
def test_same_key_other_body_is_a_409_and_changes_nothing(api):
    customer = CustomerFactory()
    assert _post(api, customer, "First", "k-1").status_code == 201
    response = _post(api, customer, "Second", "k-1")
    assert response.status_code == 409 and response.json()["error"]["code"] == "idempotency_conflict"
    other_path = api.post(f"/api/v1/customers/{CustomerFactory().public_id}/notes",
                          data=json.dumps({"body": "First"}), content_type="application/json",
                          headers={"Idempotency-Key": "k-1"})
    assert other_path.status_code == 409
    assert list(Note.objects.values_list("body", flat=True)) == ["First"]


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["k" * 256, "k" * 10_000, "", "has space", "tab\tkey", "ünïcode", "nul\x00"])
def test_bad_keys_are_refused_with_400_before_anything_runs(api, key):
    customer = CustomerFactory()
    response = api.post(_notes_path(customer), data=json.dumps({"body": "x"}), content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Note.objects.exists() and not IdempotentRequest.objects.exists()


@pytest.mark.django_db
def test_the_longest_allowed_key_is_stored_whole_and_compared_whole(api):
    customer = CustomerFactory()
    key = "k" * IdempotentRequest.KEY_MAX_LENGTH
    assert _post(api, customer, "One", key).status_code == 201
    assert IdempotentRequest.objects.get().key == key
    assert _post(api, customer, "Other", key).status_code == 409
    assert _post(api, customer, "One", key[:-1] + "j").status_code == 201  # another key: runs
    assert Note.objects.count() == 2


@pytest.mark.django_db
def test_a_refusal_is_replayed_too(api):
    customer = CustomerFactory()
    first = _post(api, customer, "   ", "k-empty")
    again = _post(api, customer, "   ", "k-empty")
    assert first.status_code == again.status_code and 400 <= first.status_code < 500
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_keys_belong_to_their_user(api, api_client_for, manager):
    customer = CustomerFactory()
    assert _post(api, customer, "Agent's", "shared").status_code == 201
    assert _post(api_client_for(manager), customer, "Manager's", "shared").status_code == 201
    assert Note.objects.count() == 2


@pytest.mark.django_db
def test_a_failed_run_leaves_the_key_free_for_a_retry(api, monkeypatch):
    from customers import services

    customer = CustomerFactory()
    real = services.customer_note_add

    def crash(**kwargs):
        real(**kwargs)  # the note is written, then the process fails before answering
        raise RuntimeError("worker lost")

    monkeypatch.setattr(services, "customer_note_add", crash)
    client = Client(raise_request_exception=False, headers=api.defaults.get("headers") or {},
                    HTTP_AUTHORIZATION=api.defaults.get("HTTP_AUTHORIZATION", ""))
    client.defaults.update(api.defaults)
    assert _post(client, customer, "Retry me", "k-crash").status_code == 500
    assert not Note.objects.exists()  # rolled back with the failed run
    monkeypatch.setattr(services, "customer_note_add", real)
    assert _post(api, customer, "Retry me", "k-crash").status_code == 201
    assert Note.objects.count() == 1


@pytest.mark.django_db
def test_expired_keys_are_purged(api, settings):
    from portal.tasks import idempotency_purge

    customer = CustomerFactory()
    _post(api, customer, "Old", "k-old")
    _post(api, customer, "New", "k-new")
    IdempotentRequest.objects.filter(key="k-old").update(
        created_at=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS + 1))
    assert idempotency_purge() == 1
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["k-new"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_identical_requests_execute_once_and_answer_alike(attempt):
    """Six threads send the same POST with one key at the same moment, against real Postgres."""
    from django.db import connections

    from portal.services import api_token_create

    sync_roles()  # the flush after a transactional test removes the roles' groups
    agent = UserFactory(username="agent-race", role="Agent")
    _, secret = api_token_create(user=agent, name="race", actor=agent)
    customer = CustomerFactory()
    barrier, answers = threading.Barrier(6), []

    def send():
        try:
            client = Client(headers={"Authorization": f"Bearer {secret}"})
            barrier.wait()
            response = _post(client, customer, "Exactly once", "race-key")
            answers.append((response.status_code, response.content))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Note.objects.filter(customer=customer).count() == 1
    assert len(answers) == 6 and len(set(answers)) == 1, answers
    assert answers[0][0] == 201


@pytest.mark.django_db
def test_a_replayed_response_is_access_logged_like_the_first(api, agent):
    from portal.models import AccessLog

    customer = CustomerFactory()
    _post(api, customer, "Seen twice", "k-log")
    again = _post(api, customer, "Seen twice", "k-log")
    assert again["Idempotent-Replayed"] == "true"
    assert IdempotentRequest.objects.get().customer_ids == [customer.pk]
    assert AccessLog.objects.filter(customer=customer, user=agent).count() == 2
