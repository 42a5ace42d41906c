"""Two agents acting on one subscription at the same moment, against real Postgres (threads, each with its own
connection): the row locks put one after the other, the first wins, the second is refused with a clear sentence
(409 in the API), and what is left is one consistent state with one audit event per action that took effect.

Each service is slowed down while it holds its locks, so the second request always arrives while the first is
still inside its transaction.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from customers.models import Customer
from customers.services import derived_state
from payments.models import Invoice
from subscriptions import services
from subscriptions.models import Subscription
from tests.subscriptions.factories import subscription_events, subscription_in

S = Subscription.Status
HOLD_SECONDS = 0.3


@pytest.fixture
def slow_writes(monkeypatch):
    """Each action sleeps while it holds the customer and subscription locks."""
    apply = services._apply

    def slowly(*args, **kwargs):
        time.sleep(HOLD_SECONDS)
        return apply(*args, **kwargs)

    monkeypatch.setattr(services, "_apply", slowly)


def race(*calls):
    """Run the calls in threads released together; each returns its result or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as error:  # noqa: BLE001 (the outcome under test)
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _consistent(subscription) -> Subscription:
    current = Subscription.objects.select_related("plan").get(pk=subscription.pk)
    customer = Customer.objects.get(pk=subscription.customer_id)
    expected = derived_state(customer, current)
    assert {name: getattr(customer, name) for name in expected} == expected
    return current


@pytest.mark.parametrize("cancel_first", [True, False])
def test_cancel_and_upgrade_at_once_end_in_one_state(ann, plans, slow_writes, cancel_first):
    subscription = subscription_in(S.ACTIVE, plan=plans.basic)
    # Both agents loaded the subscription before either acted (the page, or the API's lookup).
    for_cancel, for_upgrade = (Subscription.objects.get(pk=subscription.pk) for _ in range(2))

    def cancel():
        return services.subscription_cancel(subscription=for_cancel, when="now", reason="other", actor=ann)

    def upgrade():
        return services.subscription_change_plan(subscription=for_upgrade, plan=plans.team, actor=ann)

    first, second = (cancel, upgrade) if cancel_first else (upgrade, cancel)
    outcomes = race(first, lambda: time.sleep(HOLD_SECONDS / 3) or second())
    winner, loser = outcomes
    assert isinstance(winner, services.ActionResult) and winner.changed, winner
    assert isinstance(loser, services.ActionRefused) and loser.status == 409, loser
    current = _consistent(subscription)
    if cancel_first:
        assert loser.code == "not_allowed_in_state"
        assert loser.message == "This subscription has ended; start a new one instead."
        assert (current.status, current.plan) == (S.CANCELLED, plans.basic)
        assert subscription_events(subscription) == ["cancelled"]
        assert not Invoice.objects.filter(subscription=subscription).exists()
    else:
        assert loser.code == "changed_meanwhile"
        assert loser.message.startswith("The subscription changed while this was being done (it is now active on Team")
        assert (current.status, current.plan) == (S.ACTIVE, plans.team)
        assert subscription_events(subscription) == ["plan_changed"]
        assert Invoice.objects.filter(subscription=subscription, status=Invoice.Status.PAID).count() == 1


def test_the_same_cancel_twice_at_once_is_one_change(ann, plans, slow_writes):
    subscription = subscription_in(S.ACTIVE, plan=plans.pro)
    loaded = [Subscription.objects.get(pk=subscription.pk) for _ in range(2)]
    outcomes = race(*(lambda sub=sub: services.subscription_cancel(subscription=sub, when="period_end",
                                                                  reason="other", actor=ann) for sub in loaded))
    assert sorted(outcome.changed for outcome in outcomes) == [False, True]
    assert subscription_events(subscription) == ["cancel_scheduled"]
    assert _consistent(subscription).cancel_at_period_end


def test_the_api_answers_409_to_the_request_that_lost(ann, plans, slow_writes, api_client_for):
    subscription = subscription_in(S.ACTIVE, plan=plans.basic)
    clients = [api_client_for(ann), api_client_for(ann)]

    def send(client: Client, action: str, body: dict):
        return client.post(f"/api/v1/subscriptions/{subscription.public_id}/{action}", data=json.dumps(body),
                           content_type="application/json")

    outcomes = race(lambda: send(clients[0], "cancel", {"when": "now", "reason": "other"}),
                    lambda: time.sleep(HOLD_SECONDS / 3) or send(clients[1], "pause", {}))
    assert [response.status_code for response in outcomes] == [200, 409], [r.content for r in outcomes]
    assert outcomes[1].json()["error"]["code"] == "not_allowed_in_state"
    assert _consistent(subscription).status == S.CANCELLED
    assert subscription_events(subscription) == ["cancelled"]
