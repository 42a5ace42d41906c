"""The JSON API of the money actions: 201 / 202 / 4xx with a sentence, Idempotency-Key executing once."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from payments.models import CreditEntry, Payment, Refund, SandboxOperation
from tests.payments.factories import captured_payment, card_customer, open_invoice


def _post(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def ann_api(people, api_client_for):
    return api_client_for(people[0])


def test_refund_201_then_202_for_out_of_window(ann_api):
    payment = captured_payment(amount=10_000)
    response = _post(ann_api, f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 1_000, "reason": "duplicate"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "succeeded" and body["amount"] == {"amount": 1_000, "currency": "USD"}
    old = captured_payment(amount=10_000, days_ago=60)
    response = _post(ann_api, f"/api/v1/payments/{old.public_id}/refunds", {"amount": 1_000, "reason": "other"})
    assert response.status_code == 202 and response.json()["approval"]["status"] == "pending"
    detail = ann_api.get(f"/api/v1/payments/{old.public_id}").json()
    assert detail["refundable"]["amount"] == 9_000 and detail["refund_policy"]["decision"] == "needs_approval"


@pytest.mark.parametrize("body, code", [
    ({"amount": "10", "reason": "other"}, "invalid_amount"),
    ({"amount": 1.5, "reason": "other"}, "invalid_amount"),
    ({"amount": 0, "reason": "other"}, "invalid_amount"),
    ({"amount": True, "reason": "other"}, "invalid_amount"),
    ({"amount": 100, "reason": "because"}, "invalid_reason"),
    ({"amount": 100}, "missing_field"),
    ({"amount": 100, "reason": "other", "to": "elsewhere"}, "unknown_field"),
    ({"amount": 10**9, "reason": "other"}, "refund_amount"),
])
def test_bad_refund_input_is_a_4xx_sentence_and_changes_nothing(ann_api, body, code):
    payment = captured_payment(amount=10_000)
    response = _post(ann_api, f"/api/v1/payments/{payment.public_id}/refunds", body)
    assert 400 <= response.status_code < 500 and response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not Refund.objects.exists() and Payment.objects.get(pk=payment.pk).amount_refund_pending == 0


def test_same_key_same_body_refunds_once_even_at_once_and_another_body_is_409(ann_api):
    payment = captured_payment(amount=10_000)
    url = f"/api/v1/payments/{payment.public_id}/refunds"
    barrier = threading.Barrier(6)

    def send(_):
        barrier.wait()
        try:
            response = _post(ann_api, url, {"amount": 700, "reason": "duplicate"}, **{"Idempotency-Key": "k-refund-1"})
            return response.status_code, response.json()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(send, range(6)))
    assert {status for status, _ in answers} == {201}
    assert len({body["id"] for _, body in answers}) == 1
    assert Refund.objects.count() == 1 and SandboxOperation.objects.filter(kind="refund").count() == 1
    other = _post(ann_api, url, {"amount": 800, "reason": "duplicate"}, **{"Idempotency-Key": "k-refund-1"})
    assert other.status_code == 409 and Refund.objects.count() == 1


def test_retry_endpoint(people, api_client_for):
    from payments.charges import invoice_charge
    from payments.gateways import sandbox

    customer = card_customer()
    invoice = open_invoice(customer)
    sandbox.arm_fault("decline", operation="charge")
    failed = invoice_charge(invoice=invoice, actor=None, why="renewal").payment
    client = api_client_for(people[0])
    response = _post(client, f"/api/v1/payments/{failed.public_id}/retry", {}, **{"Idempotency-Key": "retry-1"})
    assert response.status_code == 201 and response.json()["payment"]["status"] == "succeeded"
    again = _post(client, f"/api/v1/payments/{failed.public_id}/retry", {}, **{"Idempotency-Key": "retry-1"})
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    refused = _post(client, f"/api/v1/payments/{failed.public_id}/retry", {})
    assert refused.status_code == 422 and refused.json()["error"]["code"].startswith("retry_")


def test_credits_endpoint(people, api_client_for):
    customer = card_customer()
    client = api_client_for(people[0])
    url = f"/api/v1/customers/{customer.public_id}/credits"
    created = _post(client, url, {"amount": 1_500, "reason": "Outage"})
    assert created.status_code == 201 and created.json()["balance"]["amount"] == 1_500
    big = _post(client, url, {"amount": 90_000, "reason": "Big"})
    assert big.status_code == 202
    debit = _post(client, url, {"amount": 2_000, "reason": "Oops", "direction": "debit"})
    assert debit.status_code == 422 and "below zero" in debit.json()["error"]["message"]
    listing = client.get(url).json()
    assert listing["balance"]["amount"] == 1_500 and len(listing["data"]) == 1
    assert CreditEntry.objects.count() == 1


def test_roles_without_the_capability_get_403(people, api_client_for, viewer):
    payment = captured_payment()
    client = api_client_for(viewer)
    assert _post(client, f"/api/v1/payments/{payment.public_id}/refunds",
                 {"amount": 1, "reason": "other"}).status_code == 403
    assert _post(client, f"/api/v1/customers/{payment.customer.public_id}/credits",
                 {"amount": 1, "reason": "x"}).status_code == 403
    assert client.get(f"/api/v1/payments/{payment.public_id}").status_code == 200
