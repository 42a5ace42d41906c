"""JSON API for one customer: detail, payments, activity, notes, tags; same permissions and services as the page."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from customers.models import ActivityEvent, Note
from customers.selectors.profile import PAGE_SIZE
from portal.models import AccessLog, AuditEvent
from subscriptions.models import Subscription
from tests.customers.test_profile import add_history, make_customer
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(db):
    return make_customer()


@pytest.fixture
def api(agent, api_client_for):
    return api_client_for(agent)


def base(customer) -> str:
    return f"/api/v1/customers/{customer.public_id}"


def send(client, method, path, body):
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json")


def test_detail_has_the_overview_and_every_subscription(api, customer):
    response = api.get(base(customer))
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == customer.public_id and data["name"] == "Ada Lovelace"
    assert data["status"] == "active" and data["region"] == "GB" and data["storefront"]["kind"] == "web"
    assert data["plan"] == {"code": "pro-monthly", "name": "Pro Monthly"}
    assert data["lifetime_value"] == {"amount": 123456, "currency": "USD"}
    assert data["total_paid"] == {"amount": 130000, "currency": "USD"} and data["payments_count"] == 52
    assert data["credit_balance"] == {"amount": 700, "currency": "USD"}
    assert data["tags"] == ["beta tester", "vip"]
    assert data["segments"][0]["code"] == "at_risk" and data["segments"][0]["reason"]
    assert data["renews_at"].endswith("+00:00")
    assert sorted(s["status"] for s in data["subscriptions"]) == sorted(["active", "suspended", "cancelled",
                                                                        "expired"])
    live = data["subscriptions"][0]
    assert live["status"] == "active" and live["amount"] == {"amount": 2500, "currency": "USD"}
    assert live["payment_method"] == {"kind": "card", "brand": "visa", "last4": "4242"}


def test_payments_are_paged_with_a_cursor(api, customer):
    add_history(customer, payments=30, events=0)
    first = api.get(f"{base(customer)}/payments").json()
    assert len(first["results"]) == PAGE_SIZE and first["next_cursor"]
    second = api.get(f"{base(customer)}/payments", {"cursor": first["next_cursor"]}).json()
    assert second["next_cursor"] is None
    ids = [p["id"] for p in first["results"] + second["results"]]
    assert len(set(ids)) == len(ids) == customer.payments.count()  # one per status, and these
    statuses = {p["status"] for p in first["results"]}
    assert {"succeeded", "failed", "refunded", "partially_refunded", "pending"} <= statuses
    refunded = next(p for p in first["results"] if p["status"] == "partially_refunded")
    assert refunded["amount_refunded"] == {"amount": 1000, "currency": "USD"} and refunded["invoice"]["number"]


@pytest.mark.parametrize("cursor", ["garbage!", "MTcwMDAwMDAwMDAwMDAwMC40Mg", "W10.forged", "x" * 5000])
def test_a_bad_cursor_is_400(api, customer, cursor):
    response = api.get(f"{base(customer)}/payments", {"cursor": cursor})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cursor"


def test_an_edited_cursor_is_400(api, customer):
    add_history(customer, payments=30, events=0)
    cursor = api.get(f"{base(customer)}/payments").json()["next_cursor"]
    payload, _, signature = cursor.rpartition(".")
    response = api.get(f"{base(customer)}/payments", {"cursor": payload[:-2] + "AA." + signature})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cursor"


def test_activity_can_be_filtered_by_kind(api, customer):
    data = api.get(f"{base(customer)}/activity", {"kind": "support"}).json()
    assert [e["kind"] for e in data["results"]] == ["support"]
    assert set(data["results"][0]) == {"created_at", "kind", "action", "summary", "detail", "source", "actor"}
    assert api.get(f"{base(customer)}/activity", {"kind": "nonsense"}).status_code == 400


def test_notes_get_and_post(api, customer, agent):
    response = send(api, "post", f"{base(customer)}/notes", {"body": "<b>Called</b> about the refund"})
    assert response.status_code == 201
    assert response.json()["body"] == "<b>Called</b> about the refund" and response.json()["author"] == "agent"
    notes = api.get(f"{base(customer)}/notes").json()["results"]
    assert [n["body"] for n in notes] == ["<b>Called</b> about the refund", "Prefers email over phone."]
    assert AuditEvent.objects.filter(customer=customer, action="customers.note.added", source="api").count() == 1
    assert ActivityEvent.objects.filter(customer=customer, action="note.added", source="api").count() == 1


@pytest.mark.parametrize("body, status", [({"body": ""}, 422), ({"body": 42}, 400), ({}, 400)])
def test_bad_notes_are_refused(api, customer, body, status):
    response = send(api, "post", f"{base(customer)}/notes", body)
    assert response.status_code == status and "error" in response.json()
    assert Note.objects.filter(customer=customer).count() == 1


def test_invalid_json_is_400(api, customer):
    response = api.post(f"{base(customer)}/notes", data="{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_tags_post_and_delete(api, customer):
    response = send(api, "post", f"{base(customer)}/tags", {"name": "  Needs  Follow-up "})
    assert response.status_code == 201
    assert response.json() == {"tag": "needs follow-up", "tags": ["beta tester", "needs follow-up", "vip"]}
    duplicate = send(api, "post", f"{base(customer)}/tags", {"name": "NEEDS FOLLOW-UP"})
    assert duplicate.status_code == 422 and duplicate.json()["error"]["code"] == "already_tagged"
    response = api.delete(f"{base(customer)}/tags/needs%20follow-up")
    assert response.status_code == 200 and response.json() == {"tags": ["beta tester", "vip"]}
    assert api.delete(f"{base(customer)}/tags/needs%20follow-up").status_code == 422


def test_patch_changes_contact_details_with_the_same_rules(api, customer):
    response = send(api, "patch", base(customer), {"phone": "+44 20 0000 0000", "city": "Cambridge"})
    assert response.status_code == 200 and response.json()["address"]["city"] == "Cambridge"
    audit = AuditEvent.objects.get(customer=customer, action="customers.profile.updated")
    assert audit.data == {"fields": ["phone", "city"]} and audit.after == {} and audit.source == "api"
    CustomerFactory(email="taken@example.com")
    assert send(api, "patch", base(customer), {"email": "taken@example.com"}).status_code == 422
    assert send(api, "patch", base(customer), {"email": "nope"}).status_code == 422
    assert send(api, "patch", base(customer), {"mrr": 0}).json()["error"]["code"] == "unknown_field"
    assert send(api, "patch", base(customer), {"city": ["x"]}).status_code == 400


def test_idempotency_key_replays_a_note(api, customer):
    headers = {"Idempotency-Key": "note-1"}
    path, body = f"{base(customer)}/notes", json.dumps({"body": "Once"})
    first = api.post(path, data=body, content_type="application/json", headers=headers)
    again = api.post(path, data=body, content_type="application/json", headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    assert Note.objects.filter(customer=customer, body="Once").count() == 1


@pytest.mark.parametrize("suffix, view", [("", "api_customer_detail"), ("/payments", "api_customer_payments"),
                                          ("/activity", "api_customer_activity"), ("/notes", "api_customer_notes")])
def test_each_read_writes_one_access_log_row(api, agent, customer, suffix, view):
    assert api.get(base(customer) + suffix).status_code == 200
    assert list(AccessLog.objects.values_list("user", "customer", "view")) == [(agent.pk, customer.pk, view)]


@pytest.mark.parametrize("suffix", ["", "/payments", "/activity", "/notes"])
def test_unknown_customer_is_404_json(api, suffix):
    response = api.get(f"/api/v1/customers/cus_nothere{suffix}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_anonymous_gets_401_and_outsider_403(customer, outsider, api_client_for):
    assert Client().get(base(customer)).status_code == 401
    response = api_client_for(outsider).get(base(customer))
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert not AccessLog.objects.exists()


def test_read_only_role_can_read_but_not_write(customer, api_client_for):
    group, _ = Group.objects.get_or_create(name="Read-only")
    group.permissions.set([Permission.objects.get(codename="view_customers")])
    viewer = UserFactory(username="viewer")
    viewer.groups.add(group)
    client = api_client_for(viewer)
    assert client.get(base(customer)).status_code == 200
    assert send(client, "post", f"{base(customer)}/notes", {"body": "x"}).status_code == 403
    assert send(client, "post", f"{base(customer)}/tags", {"name": "x"}).status_code == 403
    assert client.delete(f"{base(customer)}/tags/vip").status_code == 403
    assert send(client, "patch", base(customer), {"city": "x"}).status_code == 403
    assert Note.objects.filter(customer=customer).count() == 1 and customer.tags.count() == 2


def test_session_writes_need_the_csrf_header(agent, customer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    response = send(client, "post", f"{base(customer)}/notes", {"body": "x"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"


def test_detail_reads_a_fixed_number_of_queries(api, customer, django_assert_max_num_queries):
    add_history(customer, payments=500, events=2000)
    for _ in range(3):  # more subscriptions do not add queries either
        Subscription.objects.create(customer=customer, plan=customer.plan, status="expired",
                                    started_at=customer.registered_at, current_period_start=customer.registered_at,
                                    current_period_end=customer.registered_at)
    with django_assert_max_num_queries(10):
        assert api.get(base(customer)).status_code == 200
