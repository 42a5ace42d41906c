"""The sandbox gateway: test cards, idempotency, refund limits, card setup, and its test switches."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from payments.gateways import get_gateway
from payments.gateways.sandbox import TEST_CARDS, SandboxGateway, arm_fault, sandbox
from payments.models import SandboxFault, SandboxOperation

pytestmark = pytest.mark.django_db

NEXT_YEAR = str(timezone.localdate().year + 1)


def store_card(number: str, *, key: str = "setup-key") -> str:
    session = sandbox.setup_start(customer_ref="cus_sbx_test", key=key)
    result = sandbox.setup_finish(session_ref=session.ref, customer_ref=session.customer_ref,
                                  submitted={"card_number": number, "exp_month": "12", "exp_year": NEXT_YEAR,
                                             "cvc": "123"})
    assert result.outcome == "succeeded", result
    return result.method.ref


def charge(method_ref: str = "pm_card_visa", *, key: str = "charge-1", amount: int = 2500):
    return sandbox.charge(amount=amount, currency="usd", customer_ref="cus_sbx_test", method_ref=method_ref,
                          key=key, metadata={"payment": "pay_test"})


def refund(charge_ref: str, amount: int, *, key: str = "refund-1"):
    return sandbox.refund(charge_ref=charge_ref, amount=amount, currency="USD", key=key,
                          metadata={"portal_refund": "re_test"})


def test_get_gateway_answers_the_configured_one(settings):
    assert get_gateway() is sandbox and get_gateway("sandbox") is sandbox
    settings.PAYMENT_GATEWAY = "stripe"
    assert get_gateway().name == "stripe" and get_gateway("sandbox") is sandbox
    with pytest.raises(ValueError):
        get_gateway("paypal")


# ---- Test cards × charge ---------------------------------------------------------------------------------------

CARD_OUTCOMES = {
    "4242424242424242": ("succeeded", "", False),
    "5555555555554444": ("succeeded", "", False),
    "378282246310005": ("succeeded", "", False),
    "4000000000000002": ("failed", "card_declined", True),
    "4000000000000341": ("failed", "card_declined", True),
    "4000000000009995": ("failed", "insufficient_funds", False),
    "4000000000000077": ("pending", "", False),
    "4000002500003155": ("failed", "authentication_required", True),
    "4000000000000259": ("succeeded", "", False),
}


def test_every_test_card_has_an_expected_outcome():
    assert set(CARD_OUTCOMES) == set(TEST_CARDS)


@pytest.mark.parametrize("number", CARD_OUTCOMES)
def test_a_stored_test_card_charges_as_the_table_says(number):
    outcome, code, hard = CARD_OUTCOMES[number]
    method_ref = store_card(number)

    result = charge(method_ref)

    assert (result.outcome, result.failure_code, result.hard_decline) == (outcome, code, hard)
    assert result.ref.startswith("ch_sbx_")
    assert bool(result.failure_message) == (outcome == "failed")
    op = SandboxOperation.objects.get(kind="charge")
    assert (op.ref, op.status, op.amount, op.currency, op.failure_code) == (result.ref, outcome, 2500, "USD", code)
    assert op.idempotency_key == "charge-1"


@pytest.mark.parametrize("method_ref, outcome, code", [
    ("pm_card_visa", "succeeded", ""),
    ("pm_card_chargeDeclined", "failed", "card_declined"),
    ("pm_card_chargeDeclinedInsufficientFunds", "failed", "insufficient_funds"),
    ("pm_card_authenticationRequired", "failed", "authentication_required"),
    ("pm_card_createDispute", "succeeded", ""),
    ("pm_3f2a9c0d1e", "succeeded", ""),  # the demo data's methods: never stored here, they behave as 4242
    ("pm_sbx_000000000000000000000000", "succeeded", ""),
])
def test_named_and_unknown_method_refs(method_ref, outcome, code):
    result = charge(method_ref)
    assert (result.outcome, result.failure_code) == (outcome, code)


def test_a_pending_charge_settles_after_its_time(settings):
    settings.SANDBOX_SETTLE_SECONDS = 120
    result = charge("pm_card_pending")
    assert result.outcome == "pending"
    assert sandbox.charge_status(ref=result.ref, key="").outcome == "pending"
    op = SandboxOperation.objects.get(ref=result.ref)
    assert timedelta(seconds=110) < op.settles_at - timezone.now() <= timedelta(seconds=120)

    SandboxOperation.objects.filter(pk=op.pk).update(settles_at=timezone.now() - timedelta(seconds=1))

    assert sandbox.charge_status(ref=result.ref, key="") == type(result)("succeeded", ref=result.ref)
    assert sandbox.charge_status(ref="", key="charge-1").outcome == "succeeded"
    op.refresh_from_db()
    assert op.status == "succeeded"


def test_a_pending_charge_cannot_be_refunded_until_it_settles():
    result = charge("pm_card_pending")
    assert refund(result.ref, 100).failure_code == "charge_not_refundable"
    SandboxOperation.objects.filter(ref=result.ref).update(settles_at=timezone.now())
    assert refund(result.ref, 100, key="refund-2").outcome == "succeeded"


# ---- Idempotency -------------------------------------------------------------------------------------------------

def test_the_same_key_charges_once_and_answers_the_same():
    first = charge()
    again = charge()
    assert first == again and first.outcome == "succeeded"
    assert SandboxOperation.objects.filter(kind="charge").count() == 1


def test_a_declined_charge_replays_its_decline():
    first = charge("pm_card_chargeDeclined")
    assert charge("pm_card_chargeDeclined") == first
    assert SandboxOperation.objects.count() == 1


def test_the_same_key_with_another_amount_is_refused():
    charge()
    other = charge(amount=9999)
    assert (other.outcome, other.failure_code) == ("failed", "idempotency_error")
    assert SandboxOperation.objects.count() == 1


def test_a_replay_leaves_the_switches_armed():
    charge()
    arm_fault("error")
    assert charge().outcome == "succeeded"
    assert SandboxFault.objects.get().used_at is None


@pytest.mark.django_db(transaction=True)
def test_the_same_key_from_two_threads_charges_once():
    barrier = threading.Barrier(2)
    results = []

    def call():
        try:
            barrier.wait()
            results.append(charge(key="racing-key"))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 2 and results[0] == results[1] and results[0].outcome == "succeeded"
    assert SandboxOperation.objects.filter(idempotency_key="racing-key").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_pass_the_charge():
    charged = charge(amount=1000)
    barrier = threading.Barrier(4)
    results = []

    def call(n):
        try:
            barrier.wait()
            results.append(refund(charged.ref, 300, key=f"refund-{n}"))
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.outcome for r in results) == ["failed", "succeeded", "succeeded", "succeeded"]
    assert SandboxOperation.objects.filter(kind="refund", status="succeeded").count() == 3


# ---- Refunds -----------------------------------------------------------------------------------------------------

def test_partial_refunds_up_to_the_charge_and_no_further():
    charged = charge(amount=1000)
    assert refund(charged.ref, 600, key="r1").outcome == "succeeded"
    assert refund(charged.ref, 400, key="r2").outcome == "succeeded"
    over = refund(charged.ref, 1, key="r3")
    assert (over.outcome, over.failure_code) == ("failed", "amount_too_large")
    assert SandboxOperation.objects.filter(kind="refund").count() == 2


def test_a_refund_over_the_charged_amount_is_refused():
    charged = charge(amount=1000)
    over = refund(charged.ref, 1001)
    assert (over.outcome, over.failure_code) == ("failed", "amount_too_large")
    assert "nothing was refunded" in over.failure_message
    assert not SandboxOperation.objects.filter(kind="refund").exists()


def test_the_same_refund_key_refunds_once():
    charged = charge(amount=1000)
    first = refund(charged.ref, 700)
    assert refund(charged.ref, 700) == first
    assert SandboxOperation.objects.filter(kind="refund").count() == 1


@pytest.mark.parametrize("charge_ref, outcome, code", [
    ("ch_0a1b2c3d4e5f", "succeeded", ""),  # the demo data's charges predate the sandbox's books
    ("ch_sbx_000000000000000000000000", "failed", "charge_not_found"),
    ("", "failed", "charge_not_found"),
])
def test_refunds_of_charges_the_sandbox_does_not_hold(charge_ref, outcome, code):
    result = refund(charge_ref, 500)
    assert (result.outcome, result.failure_code) == (outcome, code)


def test_a_failed_charge_cannot_be_refunded():
    declined = charge("pm_card_chargeDeclined")
    assert refund(declined.ref, 100).failure_code == "charge_not_refundable"


def test_refund_status_by_ref_and_by_key():
    charged = charge(amount=1000)
    made = refund(charged.ref, 300, key="refund-key")
    assert sandbox.refund_status(ref=made.ref, charge_ref=charged.ref, key="") == made
    assert sandbox.refund_status(ref="", charge_ref=charged.ref, key="refund-key") == made
    never = sandbox.refund_status(ref="", charge_ref=charged.ref, key="never-sent")
    assert (never.outcome, never.failure_code) == ("failed", "not_found")


# ---- Card setup --------------------------------------------------------------------------------------------------

def test_setup_start_names_the_session_and_customer_after_the_key():
    session = sandbox.setup_start(customer_ref="", key="link-1")
    assert session.ref.startswith("seti_sbx_") and session.customer_ref.startswith("cus_sbx_")
    assert sandbox.setup_start(customer_ref="", key="link-1") == session
    assert sandbox.setup_start(customer_ref="cus_existing", key="link-2").customer_ref == "cus_existing"
    assert {card["number"] for card in session.extra["test_cards"]} == set(TEST_CARDS)
    assert not SandboxOperation.objects.exists()


def test_setup_finish_stores_the_card_and_answers_what_the_portal_may_keep():
    session = sandbox.setup_start(customer_ref="", key="link-1")
    result = sandbox.setup_finish(session_ref=session.ref, customer_ref=session.customer_ref,
                                  submitted={"card_number": "5555 5555 5555 4444", "exp_month": "3",
                                             "exp_year": NEXT_YEAR[2:], "cvc": "123"})
    method = result.method
    assert result.outcome == "succeeded" and method.ref.startswith("pm_sbx_")
    assert (method.customer_ref, method.brand, method.last4, method.exp_month, method.exp_year) == (
        session.customer_ref, "mastercard", "4444", 3, int(NEXT_YEAR))
    op = SandboxOperation.objects.get()
    assert (op.kind, op.ref, op.parent_ref, op.status) == ("setup", method.ref, session.ref, "succeeded")
    # Finishing the same session again answers the same card, and stores nothing more.
    again = sandbox.setup_finish(session_ref=session.ref, customer_ref=session.customer_ref,
                                 submitted={"card_number": "4242424242424242", "exp_month": "1",
                                            "exp_year": NEXT_YEAR, "cvc": "999"})
    assert again == result and SandboxOperation.objects.count() == 1


def test_a_card_outside_the_table_is_stored_without_its_number_and_charges_as_4242():
    method_ref = store_card("4111111111111111")
    op = SandboxOperation.objects.get(ref=method_ref)
    assert "4111111111111111" not in op.card and op.card.startswith("visa*1111")
    assert charge(method_ref).outcome == "succeeded"


@pytest.mark.parametrize("submitted, code", [
    ({"card_number": "4242424242424241", "exp_month": "12", "exp_year": NEXT_YEAR, "cvc": "123"}, "invalid_number"),
    ({"card_number": "4242", "exp_month": "12", "exp_year": NEXT_YEAR, "cvc": "123"}, "invalid_number"),
    ({"card_number": "", "exp_month": "12", "exp_year": NEXT_YEAR, "cvc": "123"}, "invalid_number"),
    ({"card_number": "4242424242424242", "exp_month": "13", "exp_year": NEXT_YEAR, "cvc": "123"}, "invalid_expiry"),
    ({"card_number": "4242424242424242", "exp_month": "1", "exp_year": "2020", "cvc": "123"}, "expired_card"),
    ({"card_number": "4242424242424242", "exp_month": "12", "exp_year": NEXT_YEAR, "cvc": "12"}, "invalid_cvc"),
    ({}, "invalid_number"),
])
def test_setup_finish_refuses_a_bad_card_with_a_sentence(submitted, code):
    session = sandbox.setup_start(customer_ref="", key="link-1")
    result = sandbox.setup_finish(session_ref=session.ref, customer_ref=session.customer_ref, submitted=submitted)
    assert (result.outcome, result.failure_code, result.method) == ("failed", code, None)
    assert result.failure_message.endswith(".")
    assert not SandboxOperation.objects.exists()


def test_a_card_that_expires_this_month_is_still_good():
    today = timezone.localdate()
    session = sandbox.setup_start(customer_ref="", key="link-1")
    result = sandbox.setup_finish(session_ref=session.ref, customer_ref="", submitted={
        "card_number": "4242424242424242", "exp_month": str(today.month), "exp_year": str(today.year), "cvc": "123"})
    assert result.outcome == "succeeded"


# ---- Test switches × {charge, refund, setup} -----------------------------------------------------------------------

def _call(operation: str):
    """Make one call of `operation` (a charge to refund made first, unswitched) and answer its result."""
    if operation == "charge":
        return charge(key="switched")
    if operation == "refund":
        charged = charge(key="to-refund", amount=1000)
        return refund(charged.ref, 400, key="switched")
    session = sandbox.setup_start(customer_ref="", key="switched")
    return sandbox.setup_finish(session_ref=session.ref, customer_ref=session.customer_ref,
                                submitted={"card_number": "4242424242424242", "exp_month": "12",
                                           "exp_year": NEXT_YEAR, "cvc": "123"})


def _switched_op(operation: str):
    key = "setup:" + sandbox.setup_start(customer_ref="", key="switched").ref if operation == "setup" else "switched"
    return SandboxOperation.objects.filter(idempotency_key=key).first()


@pytest.mark.parametrize("operation", ["charge", "refund", "setup"])
def test_decline_switch(operation):
    arm_fault("decline", operation)
    result = _call(operation)
    assert (result.outcome, result.failure_code) == ("failed", "card_declined")
    if operation == "charge":
        assert result.hard_decline is False
    op = _switched_op(operation)
    # Declined charges and refunds are in the books (a replay answers the same); a declined setup stores nothing.
    assert (op.status if op else None) == (None if operation == "setup" else "failed")
    assert SandboxFault.objects.get().used_at is not None


@pytest.mark.parametrize("operation", ["charge", "refund", "setup"])
def test_error_switch(operation):
    arm_fault("error", operation)
    result = _call(operation)
    assert (result.outcome, result.failure_code) == ("failed", "gateway_error")
    assert "nothing was" in result.failure_message or "not saved" in result.failure_message
    assert _switched_op(operation) is None


@pytest.mark.parametrize("operation", ["charge", "refund", "setup"])
def test_timeout_switch_does_nothing_and_says_nothing(operation):
    arm_fault("timeout", operation)
    result = _call(operation)
    assert result.outcome == "unknown"
    assert _switched_op(operation) is None
    if operation == "charge":
        status = sandbox.charge_status(ref="", key="switched")
        assert (status.outcome, status.failure_code) == ("failed", "not_found")
    elif operation == "refund":
        assert sandbox.refund_status(ref="", charge_ref="", key="switched").outcome == "failed"


@pytest.mark.parametrize("operation", ["charge", "refund", "setup"])
def test_succeed_then_timeout_switch_does_it_and_loses_the_answer(operation):
    arm_fault("succeed_then_timeout", operation)
    result = _call(operation)
    assert result.outcome == "unknown" and getattr(result, "ref", "") == ""
    op = _switched_op(operation)
    assert op is not None and op.status == "succeeded"
    # Reconciliation finds the truth.
    if operation == "charge":
        assert sandbox.charge_status(ref="", key="switched").outcome == "succeeded"
        assert sandbox.charge_status(ref="", key="switched").ref == op.ref
        assert charge(key="switched").ref == op.ref  # a retry with the same key does not charge again
        assert SandboxOperation.objects.filter(kind="charge").count() == 1
    elif operation == "refund":
        assert sandbox.refund_status(ref="", charge_ref=op.parent_ref, key="switched").ref == op.ref
    else:
        assert _call("setup").method.ref == op.ref
        assert SandboxOperation.objects.filter(kind="setup").count() == 1


def test_a_switch_waits_for_its_operation_and_is_used_once():
    arm_fault("error", "refund")
    assert charge(key="c1").outcome == "succeeded"
    charged = charge(key="c2", amount=1000)
    assert refund(charged.ref, 100, key="r1").failure_code == "gateway_error"
    assert refund(charged.ref, 100, key="r2").outcome == "succeeded"


def test_a_switch_for_any_operation_goes_to_the_next_call():
    arm_fault("decline")
    arm_fault("timeout")
    assert charge(key="c1").failure_code == "card_declined"
    assert charge(key="c2").outcome == "unknown"
    assert charge(key="c3").outcome == "succeeded"


def test_arm_fault_refuses_unknown_names():
    with pytest.raises(ValueError):
        arm_fault("explode")
    with pytest.raises(ValueError):
        arm_fault("timeout", "payout")


def test_the_command_arms_and_clears_switches(capsys):
    call_command("sandbox_fault", "succeed_then_timeout", "--operation", "refund")
    fault = SandboxFault.objects.get()
    assert (fault.fault, fault.operation, fault.used_at) == ("succeed_then_timeout", "refund", None)
    call_command("sandbox_fault", "clear")
    assert not SandboxFault.objects.exists()
    assert "Disarmed 1" in capsys.readouterr().out


def test_the_command_is_refused_outside_the_sandbox(settings):
    settings.PAYMENT_GATEWAY = "stripe"
    with pytest.raises(CommandError, match="only in the sandbox"):
        call_command("sandbox_fault", "timeout")
    assert not SandboxFault.objects.exists()


def test_the_sandbox_is_a_gateway():
    from payments.gateways.base import Gateway

    for method in ("charge", "charge_status", "refund", "refund_status", "setup_start", "setup_finish"):
        assert callable(getattr(SandboxGateway, method)) and hasattr(Gateway, method)
