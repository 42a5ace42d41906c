"""The subscription API: `GET /api/v1/subscriptions/<sub>` and `POST …/<action>`, with previews, refusals, roles and
Idempotency-Key replays."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import Payment
from portal.models import AuditEvent
from subscriptions.models import Subscription
from tests.factories import PaymentFactory
from tests.subscriptions.factories import snapshot, subscription_events, subscription_in

S = Subscription.Status


def url(subscription, action: str = "") -> str:
    return f"/api/v1/subscriptions/{subscription.public_id}" + (f"/{action}" if action else "")


def post(client, subscription, action: str, body=None, **headers):
    return client.post(url(subscription, action), data=json.dumps(body if body is not None else {}),
                       content_type="application/json", headers=headers)


@pytest.fixture
def api(agent, api_client_for):
    return api_client_for(agent)


def test_the_subscription_shows_every_action_and_why_not(api, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro, scheduled_plan=plans.basic)
    response = api.get(url(subscription))
    assert response.status_code == 200
    data = response.json()
    assert (data["id"], data["status"], data["customer"]) == (subscription.public_id, "active",
                                                             subscription.customer.public_id)
    assert data["scheduled_plan"] == {"code": "basic", "name": "Basic"}
    assert data["actions"]["cancel"] == {"allowed": True, "code": None, "reason": None, "offer": None}
    assert data["actions"]["resume"] == {"allowed": False, "code": "not_allowed_in_state",
                                         "reason": "The subscription is not paused.", "offer": None}
    assert data["actions"]["scheduled_change_cancel"]["allowed"]


def test_a_pending_payment_is_shown_on_the_cancel_action(api, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    pending = PaymentFactory(customer=subscription.customer, status=Payment.Status.PENDING)
    cancel = api.get(url(subscription)).json()["actions"]["cancel"]
    assert cancel["code"] == "payment_pending" and pending.public_id in cancel["reason"]
    assert cancel["offer"] == "cancel_when_settled"


def test_an_unknown_subscription_is_404(api, plans):
    response = api.get("/api/v1/subscriptions/sub_nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("status", "action", "body", "check"), [
    (S.ACTIVE, "change-plan", {"plan": "team", "when": "renewal"},
     lambda sub: sub["scheduled_plan"]["code"] == "team"),
    (S.ACTIVE, "change-plan", {"plan": "basic"}, lambda sub: sub["scheduled_plan"]["code"] == "basic"),
    (S.TRIAL, "change-plan", {"plan": "team"}, lambda sub: sub["plan"]["code"] == "team"),
    (S.ACTIVE, "cancel", {"when": "period_end", "reason": "too_expensive"},
     lambda sub: sub["cancel_at_period_end"] and sub["cancel_reason"] == "too_expensive"),
    (S.ACTIVE, "cancel", {"when": "now", "reason": "switching"}, lambda sub: sub["status"] == "cancelled"),
    (S.ACTIVE, "pause", {"resume_on": None}, lambda sub: sub["status"] == "paused"),
    (S.PAUSED, "resume", {}, lambda sub: sub["status"] == "active"),
    (S.TRIAL, "extend-trial", {"days": 5}, lambda sub: sub["trial_end"] is not None),
])
def test_each_action_answers_with_what_it_did(api, plans, status, action, body, check):
    subscription = subscription_in(status, plan=plans.pro)
    response = post(api, subscription, action, body)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["preview"] is False and data["changed"] is True and data["message"]
    assert check(data["subscription"])
    assert data["impact"]["summary"] and data["impact"]["action"] == action.replace("-", "_")
    assert data["impact"]["mrr"]["change"]["amount"] == (data["impact"]["mrr"]["after"]["amount"]
                                                         - data["impact"]["mrr"]["before"]["amount"])


def test_undo_and_dropping_a_scheduled_change(api, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro, cancel_at_period_end=True, scheduled_plan=plans.basic)
    undo = post(api, subscription, "undo-cancel")
    assert undo.status_code == 200 and undo.json()["subscription"]["cancel_at_period_end"] is False
    dropped = post(api, subscription, "cancel-scheduled-change")
    assert dropped.status_code == 200 and dropped.json()["subscription"]["scheduled_plan"] is None
    again = post(api, subscription, "cancel-scheduled-change")
    assert again.status_code == 200 and again.json()["changed"] is False


@pytest.mark.parametrize(("action", "body"), [
    ("change-plan", {"plan": "team"}), ("cancel", {"when": "now", "reason": "other"}), ("pause", {}),
    ("undo-cancel", {}), ("cancel-scheduled-change", {}),
])
def test_a_preview_answers_the_impact_and_changes_nothing(api, plans, action, body):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro, cancel_at_period_end=action == "undo-cancel",
                                   scheduled_plan=plans.basic if action == "cancel-scheduled-change" else None)
    before = snapshot(subscription)
    response = post(api, subscription, action, {**body, "preview": True})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["preview"] is True and data["message"] == data["impact"]["summary"]
    assert ("offer" in data) == (action == "cancel") and data.get("offer") is None
    after = snapshot(subscription)
    assert {key: value for key, value in after.items() if key != "AuditEvent"} == {
        key: value for key, value in before.items() if key != "AuditEvent"}
    assert not AuditEvent.objects.filter(action__startswith="subscriptions.").exists()


def test_an_upgrade_preview_shows_the_money(api, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.basic, days_into_period=18)
    impact = post(api, subscription, "change-plan", {"plan": "pro", "preview": True}).json()["impact"]
    assert impact["when"] == "now" and abs(impact["charge_now"]["amount"] - 1360) <= 1
    assert impact["charge_now"]["currency"] == "USD" and impact["credit_now"]["amount"] == 0
    assert impact["mrr"] == {"before": {"amount": 1500, "currency": "USD"},
                             "after": {"amount": 4900, "currency": "USD"},
                             "change": {"amount": 3400, "currency": "USD"}}
    assert impact["next_invoice"]["amount"] == {"amount": 4900, "currency": "USD"}
    assert len(impact["lines"]) == 3


@pytest.mark.parametrize(("action", "body", "status", "code"), [
    ("change-plan", {}, 400, "missing_field"),
    ("change-plan", {"plan": "pro", "extra": 1}, 400, "unknown_field"),
    ("change-plan", {"plan": 7}, 400, "invalid_plan"),
    ("change-plan", {"plan": "pro", "when": "later"}, 400, "invalid_when"),
    ("change-plan", {"plan": "nope"}, 422, "unknown_plan"),
    ("change-plan", {"plan": "basic"}, 422, "same_plan"),
    ("change-plan", {"plan": "pro-eur"}, 422, "plan_currency"),
    ("change-plan", {"plan": "basic-yearly"}, 422, "plan_interval"),
    ("change-plan", {"plan": "pro", "preview": "yes"}, 400, "invalid_preview"),
    ("cancel", {"when": "now"}, 400, "missing_field"),
    ("cancel", {"when": "now", "reason": "bored"}, 400, "invalid_reason"),
    ("cancel", {"when": "now", "reason": "other", "after_settle": 1}, 400, "invalid_after_settle"),
    ("pause", {"resume_on": "next week"}, 400, "invalid_resume_on"),
    ("pause", {"resume_on": "2020-02-30"}, 400, "invalid_resume_on"),
    ("pause", {"resume_on": "2020-01-01"}, 422, "invalid_resume_on"),
    ("extend-trial", {"days": "7"}, 400, "invalid_days"),
    ("extend-trial", {"days": 7}, 409, "not_allowed_in_state"),
    ("resume", {"force": True}, 400, "unknown_field"),
])
def test_bad_input_is_refused_with_a_sentence(api, plans, action, body, status, code):
    subscription = subscription_in(S.ACTIVE, plan=plans.basic)
    before = snapshot(subscription)
    response = post(api, subscription, action, body)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"].endswith(".")
    assert snapshot(subscription) == before


def test_a_trial_past_its_cap_is_422_with_the_days_left(api, plans):
    subscription = subscription_in(S.TRIAL, plan=plans.pro)
    response = post(api, subscription, "extend-trial", {"days": 90})
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "trial_cap", "message": "A trial lasts at most 90 days in total: at "
                                                                        "most 60 more days can be added."}


def test_cancel_while_a_payment_is_pending_is_409_and_can_wait_for_it(api, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    PaymentFactory(customer=subscription.customer, status=Payment.Status.UNKNOWN,
                   created_at=timezone.now() - timedelta(minutes=5))
    refused = post(api, subscription, "cancel", {"when": "now", "reason": "other"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "payment_pending"
    waiting = post(api, subscription, "cancel", {"when": "now", "reason": "other", "after_settle": True})
    assert waiting.status_code == 200
    assert waiting.json()["subscription"]["cancel_after_settle"] == "now"


def test_an_idempotency_key_replays_the_first_answer(api, plans):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    body = {"when": "period_end", "reason": "other"}
    first = post(api, subscription, "cancel", body, **{"Idempotency-Key": "k-1"})
    again = post(api, subscription, "cancel", body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert subscription_events(subscription) == ["cancel_scheduled"]
    other = post(api, subscription, "cancel", {**body, "reason": "too_expensive"}, **{"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"


def test_an_upgrade_through_the_api_charges_once_per_key(ann, plans, api_client_for):
    api = api_client_for(ann)
    subscription = subscription_in(S.ACTIVE, plan=plans.basic, days_into_period=18)
    first = post(api, subscription, "change-plan", {"plan": "pro"}, **{"Idempotency-Key": "up-1"})
    assert first.status_code == 200, first.content
    assert first.json()["payment"]["status"] == "succeeded"
    assert first.json()["message"].startswith("Changed from Basic to Pro. Charged $13.6")
    again = post(api, subscription, "change-plan", {"plan": "pro"}, **{"Idempotency-Key": "up-1"})
    assert again.json() == first.json()
    assert Payment.objects.filter(customer=subscription.customer).count() == 1


def test_resuming_a_suspended_subscription_through_the_api(ann, plans, api_client_for):
    api = api_client_for(ann)
    paid = subscription_in(S.SUSPENDED, plan=plans.pro)
    response = post(api, paid, "resume", **{"Idempotency-Key": "r-1"})
    assert response.status_code == 200 and response.json()["subscription"]["status"] == "active"
    assert response.json()["payment"]["amount"] == {"amount": 4900, "currency": "USD"}
    declined = subscription_in(S.SUSPENDED, plan=plans.pro, card="pm_card_chargeDeclined")
    response = post(api, declined, "resume")
    assert response.status_code == 422 and response.json()["error"]["code"] == "charge_declined"
    assert response.json()["error"]["message"].endswith("; the subscription stays suspended.")


@pytest.mark.parametrize("action", ["change-plan", "cancel", "undo-cancel", "pause", "resume", "extend-trial",
                                    "cancel-scheduled-change"])
def test_actions_need_the_subscription_capability(viewer, outsider, api_client_for, plans, action):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    for user in (viewer, outsider):
        response = post(api_client_for(user), subscription, action, {"preview": True})
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert api_client_for(viewer).get(url(subscription)).status_code == 200
    assert api_client_for(outsider).get(url(subscription)).status_code == 403


@pytest.mark.parametrize("action", ["change-plan", "cancel", "pause"])
def test_actions_are_posts(api, plans, action):
    response = api.get(url(subscription_in(S.ACTIVE, plan=plans.pro), action))
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_a_session_needs_the_csrf_token(agent, client_for, plans):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    response = post(client, subscription_in(S.ACTIVE, plan=plans.pro), "pause")
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
