"""POST/GET /api/v1/customers/<cus>/emails: same service and rules as the dialog."""

import json

import pytest
from django.core import mail

from support.models import EmailMessage
from tests.factories import CustomerFactory
from tests.support.factories import EmailMessageFactory

pytestmark = pytest.mark.django_db


def _url(customer):
    return f"/api/v1/customers/{customer.public_id}/emails"


def _post(client, customer, body, **headers):
    return client.post(_url(customer), data=json.dumps(body), content_type="application/json", headers=headers)


def test_it_queues_an_email_and_answers_201(agent, api_client_for, django_capture_on_commit_callbacks):
    customer = CustomerFactory(email="ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(api_client_for(agent), customer, {"template": "welcome"})
    assert response.status_code == 201
    data = response.json()
    message = EmailMessage.objects.get()
    assert data["id"] == message.public_id and data["template"] == "welcome" and data["to"] == "ann@example.com"
    assert data["status"] == "queued" and data["created_at"]  # as queued, before the delivery after commit
    assert len(mail.outbox) == 1


def test_the_same_idempotency_key_queues_once(agent, api_client_for, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    client = api_client_for(agent)
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(client, customer, {"template": "welcome"}, **{"Idempotency-Key": "k1"})
        second = _post(client, customer, {"template": "welcome"}, **{"Idempotency-Key": "k1"})
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    assert EmailMessage.objects.count() == 1 and len(mail.outbox) == 1


@pytest.mark.parametrize("body, status, code", [
    ({"template": "newsletter"}, 422, "email_refused"),
    ({"template": "nope"}, 422, "unknown_template"),
    ({"template": "ticket-reply"}, 422, "needs_ticket"),
    ({"template": 3}, 400, "invalid"),
    ({}, 400, "invalid"),
    ({"template": "welcome", "to": "someone@else.example"}, 400, "unknown_field"),
])
def test_bad_input_changes_nothing(agent, api_client_for, body, status, code):
    response = _post(api_client_for(agent), CustomerFactory(), body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert not EmailMessage.objects.exists()


def test_a_role_without_contact_customers_gets_403(viewer, api_client_for):
    response = _post(api_client_for(viewer), CustomerFactory(), {"template": "welcome"})
    assert response.status_code == 403 and not EmailMessage.objects.exists()


def test_the_wrong_method_gets_405(agent, api_client_for):
    assert api_client_for(agent).delete(_url(CustomerFactory())).status_code == 405


def test_it_lists_emails_newest_first_in_pages(viewer, api_client_for):
    customer = CustomerFactory()
    EmailMessageFactory.create_batch(23, customer=customer, status="sent")
    client = api_client_for(viewer)
    first = client.get(_url(customer)).json()
    assert len(first["results"]) == 20 and first["next_cursor"]
    assert set(first["results"][0]) == {"id", "status", "template", "to", "subject", "attempts", "error",
                                        "created_at", "sent_at"}
    second = client.get(_url(customer), {"cursor": first["next_cursor"]}).json()
    assert len(second["results"]) == 3 and second["next_cursor"] is None
    assert client.get(_url(customer), {"cursor": "nonsense"}).status_code == 400
