"""No personal values in rows that can never be deleted.

Every write service of every app (a public function that takes a keyword-only `actor`, in `<app>/services.py` or
in any other module of the app, such as support/escalations.py) is run against a customer with distinctive personal values, changing them where it can; then every row of the
append-only AuditEvent and AccessLog tables, and of the customer timeline (ActivityEvent, which erasure can
anonymise, but which should not copy them either), is searched for those values. A new service fails
`test_every_write_service_is_exercised` until it has an entry in SERVICES.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from customers.models import ActivityEvent, Customer
from customers.services import PROFILE_FIELDS
from portal.models import AccessLog, ApiToken, AuditEvent
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

BEFORE = {"first_name": "Zebulonqx", "last_name": "Quorvath", "email": "zebulonqx@pii.example",
          "phone": "+1 555 0199", "address_line1": "Quillfeather Lane 7", "address_line2": "Flat Wyvernquill",
          "city": "Vexmoor", "postal_code": "QX9 7ZZ", "country": "GB"}
AFTER = {"first_name": "Ysoldequin", "last_name": "Marrowvane", "email": "ysoldequin@pii.example",
         "phone": "+1 555 0177", "address_line1": "Thistlebrook Row 12", "address_line2": "Unit Ospreyhall",
         "city": "Wrenhallow", "postal_code": "WR4 1YY", "country": "NZ"}
NOTE_BODY = "Xyloquartz said the card was stolen"
PERSONAL_VALUES = [*BEFORE.values(), *AFTER.values(), NOTE_BODY]


def _note_add(customer, actor):
    from customers.services import customer_note_add

    customer_note_add(customer=customer, body=NOTE_BODY, actor=actor)


def _tag_add(customer, actor):
    from customers.services import customer_tag_add

    customer_tag_add(customer=customer, name="vip", actor=actor)


def _tag_remove(customer, actor):
    from customers.services import customer_tag_add, customer_tag_remove

    customer_tag_add(customer=customer, name="vip", actor=actor)
    customer_tag_remove(customer=customer, name="vip", actor=actor)


def _profile_update(customer, actor):
    from customers.services import customer_profile_update

    customer_profile_update(customer=customer, actor=actor, **AFTER)


def _api_token_create(customer, actor):
    from portal.services import api_token_create

    api_token_create(user=actor, name="ci", actor=actor)


def _api_token_revoke(customer, actor):
    from portal.services import api_token_create, api_token_revoke

    token, _ = api_token_create(user=actor, name="ci", actor=actor)
    api_token_revoke(token=ApiToken.objects.get(pk=token.pk), actor=actor)


def _email_send(customer, actor):
    from support.services import email_message_deliver, email_send

    message = email_send(customer=customer, template_code="welcome", actor=actor)
    email_message_deliver(message.pk)  # its outcome is recorded too (by the system)
    message = email_send(customer=customer, template_code="ticket-reply", actor=actor,
                         extra_context={"ticket_subject": NOTE_BODY, "reply_body": NOTE_BODY})
    email_message_deliver(message.pk)


# Tickets: the subject and every message quote the customer; none of it may reach the undeletable rows.
TICKET_SUBJECT = f"Refund for {BEFORE['first_name']} {BEFORE['last_name']}"


def _ticket(customer, actor, **fields):
    from payments.models import Payment
    from support.services import ticket_open
    from tests.factories import ActivityEventFactory, PaymentFactory

    payment = PaymentFactory(customer=customer, status=Payment.Status.FAILED, failure_message="Card declined")
    event = ActivityEventFactory(customer=customer, summary="Plan changed")
    return ticket_open(customer=customer, subject=TICKET_SUBJECT, description=f"{NOTE_BODY}; call {BEFORE['phone']}",
                       actor=actor, payment=payment, activity_event=event, **fields)


def _ticket_open(customer, actor):
    _ticket(customer, actor, priority="high")


def _ticket_comment_add(customer, actor):
    from support.services import ticket_comment_add

    ticket = _ticket(customer, actor)
    ticket_comment_add(ticket=ticket, body=f"{NOTE_BODY}, emailed {BEFORE['email']}", public=False, actor=actor)
    ticket_comment_add(ticket=ticket, body=f"Dear {BEFORE['first_name']}, {NOTE_BODY}", public=True, actor=actor)


def _ticket_status_change(customer, actor):
    from support.services import ticket_status_change

    ticket_status_change(ticket=_ticket(customer, actor), status="pending", actor=actor)


def _ticket_priority_change(customer, actor):
    from support.services import ticket_priority_change

    ticket_priority_change(ticket=_ticket(customer, actor), priority="urgent", actor=actor)


def _ticket_assign(customer, actor):
    from support.services import ticket_assign

    ticket_assign(ticket=_ticket(customer, actor), assignee=actor, actor=actor)


def _owner_set(customer, actor):
    from customers.services import customer_owner_set

    customer_owner_set(customer=customer, owner_id=actor.pk, actor=actor)
    customer_owner_set(customer=customer, owner_id=None, actor=actor)


def _escalation_raise(customer, actor):
    from support.escalations import escalation_raise
    from tests.support.factories import TicketFactory

    escalation_raise(customer=customer, reason="other", note=NOTE_BODY, actor=actor)
    escalation_raise(customer=customer, ticket=TicketFactory(customer=customer), reason="complaint",
                     note=NOTE_BODY, actor=actor)


def _escalation_resolve(customer, actor):
    from support.escalations import escalation_raise, escalation_resolve
    from tests.factories import UserFactory

    escalation = escalation_raise(customer=customer, reason="billing_dispute", note=NOTE_BODY, actor=actor)
    manager = UserFactory(username="resolving-manager", role="Manager")
    escalation_resolve(escalation=escalation, note=f"Refunded; {NOTE_BODY}", actor=manager)


def _card_link_send(customer, actor):
    from payments.card_links import card_link_send
    from support.services import email_message_deliver

    link = card_link_send(customer=customer, actor=actor)
    email_message_deliver(link.email_id)


CARD = {"card_number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}


def _card_link_open(customer, actor):
    from payments.card_links import card_link_open, card_link_send

    card_link_open(link=card_link_send(customer=customer, actor=actor))


def _card_link_complete(customer, actor):
    from payments.card_links import CardLinkRefused, card_link_complete, card_link_from_token, card_link_send
    from payments.card_links import card_link_token
    from portal.errors import DomainError
    from tests.factories import InvoiceFactory, PaymentFactory, PaymentMethodFactory

    PaymentMethodFactory(customer=customer)
    invoice = InvoiceFactory(customer=customer, status="open")
    PaymentFactory(customer=customer, invoice=invoice, status="failed")
    link = card_link_from_token(card_link_token(card_link_send(customer=customer, actor=actor)))
    with pytest.raises(DomainError):  # declined: counted and logged
        card_link_complete(link=link, submitted={**CARD, "card_number": "4242424242424241"})
    method = card_link_complete(link=link, submitted=CARD)
    from payments.card_links import charge_outstanding_after_update

    charge_outstanding_after_update(method)
    with pytest.raises(CardLinkRefused):  # used: refused and logged
        card_link_complete(link=link, submitted=CARD)
def _approval(customer, actor, **kwargs):
    """A request of the tests' own kind (tests/approval_kinds.py, registered by the approval_kinds fixture), with
    the note quoting the customer."""
    from tests.approval_kinds import request_tag

    return request_tag(customer=customer, actor=actor, note=f"{NOTE_BODY}; call {BEFORE['phone']}", amount=1200,
                       **kwargs)


def _approval_request(customer, actor):
    _approval(customer, actor)


def _approval_approve(customer, actor):
    from portal.approvals import ApprovalFailed, approval_approve
    from tests.factories import UserFactory

    manager = UserFactory(username="approving-manager", role="Manager")
    approval_approve(approval=_approval(customer, actor), actor=manager,
                     comment=f"OK for {BEFORE['first_name']} {BEFORE['last_name']}, {NOTE_BODY}")
    failing = _approval(customer, actor, tag="gold")
    from customers.services import customer_tag_add

    customer_tag_add(customer=customer, name="gold", actor=actor)
    with pytest.raises(ApprovalFailed):  # the failure is recorded too
        approval_approve(approval=failing, actor=manager, comment=f"Dear {BEFORE['first_name']}")


def _approval_reject(customer, actor):
    from portal.approvals import approval_reject
    from tests.factories import UserFactory

    manager = UserFactory(username="rejecting-manager", role="Manager")
    approval_reject(approval=_approval(customer, actor), actor=manager,
                    comment=f"No: {NOTE_BODY}, emailed {BEFORE['email']}")


# How to call each write service with the customer above ("module.function": call(customer, actor)).
def _paying_customer(customer):
    from tests.factories import PaymentMethodFactory

    PaymentMethodFactory(customer=customer, gateway="sandbox", gateway_ref="pm_card_visa")


def _open_invoice(customer):
    from tests.factories import InvoiceFactory

    return InvoiceFactory(customer=customer, status="open", subtotal=2_000)


def _refund_issue(customer, actor):
    from payments.refunds import refund_issue
    from tests.factories import PaymentFactory

    refund_issue(payment=PaymentFactory(customer=customer, amount=5_000), amount=100, reason_code="duplicate",
                 note=NOTE_BODY, actor=actor)


def _payment_retry(customer, actor):
    from payments.charges import payment_retry
    from tests.factories import PaymentFactory

    _paying_customer(customer)
    failed = PaymentFactory(customer=customer, status="failed", invoice=_open_invoice(customer))
    payment_retry(payment=failed, actor=actor)


def _invoice_charge(customer, actor):
    from payments.charges import invoice_charge

    _paying_customer(customer)
    invoice_charge(invoice=_open_invoice(customer), actor=actor, why="test")


def _invoice_charge_outstanding(customer, actor):
    from payments.charges import invoice_charge_outstanding
    from tests.factories import PaymentFactory

    _paying_customer(customer)
    PaymentFactory(customer=customer, status="failed", invoice=_open_invoice(customer))
    invoice_charge_outstanding(customer=customer, actor=actor)


def _credit_grant(customer, actor):
    from payments.credit import credit_grant

    credit_grant(customer=customer, amount=500, reason=NOTE_BODY, actor=actor)


def _credit_debit(customer, actor):
    from payments.credit import credit_debit, credit_grant

    credit_grant(customer=customer, amount=500, reason=NOTE_BODY, actor=actor)
    credit_debit(customer=customer, amount=200, reason=NOTE_BODY, actor=actor)


def _credit_apply_to_invoice(customer, actor):
    from payments.credit import credit_apply_to_invoice, credit_grant

    credit_grant(customer=customer, amount=500, reason=NOTE_BODY, actor=actor)
    invoice = _open_invoice(customer)
    invoice.customer = customer
    credit_apply_to_invoice(invoice=invoice, actor=actor)


def _charge_outcome_record(customer, actor):
    from payments.gateways.base import ChargeResult
    from payments.outcomes import charge_outcome_record
    from tests.factories import PaymentFactory

    payment = PaymentFactory(customer=customer, status="pending", invoice=_open_invoice(customer))
    charge_outcome_record(payment.pk, ChargeResult("succeeded", ref="ch_x"), actor=actor)


def _refund_outcome_record(customer, actor):
    from payments.gateways.base import RefundResult
    from payments.models import Refund
    from payments.outcomes import refund_outcome_record
    from tests.factories import PaymentFactory

    payment = PaymentFactory(customer=customer, amount_refund_pending=100)
    refund = Refund.objects.create(payment=payment, amount=100, currency="USD", created_at=payment.created_at,
                                   reason=NOTE_BODY)
    refund_outcome_record(refund.pk, RefundResult("succeeded", ref="re_x"), actor=actor)


def _subscription(customer, status="active", **fields):
    from customers.services import customer_refresh_derived_state
    from tests.factories import PlanFactory, SubscriptionFactory

    _paying_customer(customer)
    subscription = SubscriptionFactory(customer=customer, status=status,
                                       plan=PlanFactory(code="pii-basic", name="Basic", price=1500, rank=1),
                                       **fields)
    customer_refresh_derived_state(customer)
    return subscription


def _subscription_change_plan(customer, actor):
    from subscriptions.services import subscription_change_plan
    from tests.factories import PlanFactory

    subscription = _subscription(customer)
    pro = PlanFactory(code="pii-pro", name="Pro", price=4900, rank=2)
    result = subscription_change_plan(subscription=subscription, plan=pro, when="now", actor=actor)
    basic = subscription.plan
    result = subscription_change_plan(subscription=result.subscription, plan=basic, when="now", actor=actor)
    subscription_change_plan(subscription=result.subscription, plan=pro, when="renewal", actor=actor)


def _subscription_scheduled_change_cancel(customer, actor):
    from subscriptions.services import subscription_scheduled_change_cancel
    from tests.factories import PlanFactory

    subscription = _subscription(customer, scheduled_plan=PlanFactory(code="pii-lite", name="Lite", price=500))
    subscription_scheduled_change_cancel(subscription=subscription, actor=actor)


def _subscription_cancel(customer, actor):
    from subscriptions.services import subscription_cancel
    from tests.factories import PaymentFactory

    result = subscription_cancel(subscription=_subscription(customer), when="period_end", reason="other",
                                 actor=actor)
    PaymentFactory(customer=customer, status="pending")
    subscription_cancel(subscription=result.subscription, when="now", reason="too_expensive", actor=actor,
                        after_settle=True)


def _subscription_cancel_undo(customer, actor):
    from subscriptions.services import subscription_cancel_undo

    subscription_cancel_undo(subscription=_subscription(customer, cancel_at_period_end=True), actor=actor)


def _subscription_pause(customer, actor):
    from datetime import timedelta

    from django.utils import timezone

    from subscriptions.services import subscription_pause

    subscription_pause(subscription=_subscription(customer), resume_on=timezone.localdate() + timedelta(days=9),
                       actor=actor)


def _subscription_resume(customer, actor):
    from django.utils import timezone

    from subscriptions.services import subscription_resume

    from payments.models import Invoice
    from subscriptions.models import Subscription

    paused = _subscription(customer, status="paused", paused_at=timezone.now())
    subscription_resume(subscription=paused, actor=actor)
    # Suspended for an unpaid invoice: resuming charges it first.
    Subscription.objects.filter(pk=paused.pk).update(status="suspended")
    Invoice.objects.filter(pk=_open_invoice(customer).pk).update(subscription=paused)
    subscription_resume(subscription=Subscription.objects.get(pk=paused.pk), actor=actor)


def _subscription_extend_trial(customer, actor):
    from datetime import timedelta

    from django.utils import timezone

    from subscriptions.services import subscription_extend_trial

    start = timezone.now() - timedelta(days=3)
    trial = _subscription(customer, status="trial", started_at=start, current_period_start=start,
                          current_period_end=start + timedelta(days=14), trial_end=start + timedelta(days=14))
    subscription_extend_trial(subscription=trial, days=7, actor=actor)


def _credit_add_for_proration(customer, actor):
    from payments.credit import credit_add_for_proration

    credit_add_for_proration(customer=customer, amount=250, reason="Unused time on Pro", actor=actor)


def _invoice_issue(customer, actor):
    from django.utils import timezone

    from payments.invoices import invoice_issue, invoice_line

    invoice_issue(customer=customer, subscription=None, lines=[invoice_line("Pro for the rest of the period", 900)],
                  currency=customer.currency, period_start=timezone.now(), period_end=timezone.now(), actor=actor,
                  why="plan change")


def _retention_subscription(customer):
    """A subscription on Standard with a cheaper plan below it, for the retention offers."""
    from tests.subscriptions.catalog import catalogue, subscribed

    return subscribed(catalogue()["standard"], customer=customer)


def _retention_offer_make(customer, actor):
    from subscriptions.retention import retention_offer_make

    retention_offer_make(subscription=_retention_subscription(customer), reason="not_using", actor=actor)


def _retention_offer_accept(customer, actor):
    from subscriptions.retention import retention_offer_accept, retention_offer_make

    subscription = _retention_subscription(customer)
    for reason in ("missing_feature", "too_expensive", "not_using"):  # a discount, a cheaper plan, a pause
        offer = retention_offer_make(subscription=subscription, reason=reason, actor=actor)
        retention_offer_accept(offer=offer, actor=actor)


def _retention_offer_decline(customer, actor):
    from subscriptions.retention import retention_offer_decline, retention_offer_make

    subscription = _retention_subscription(customer)
    retention_offer_decline(offer=retention_offer_make(subscription=subscription, reason="not_using", actor=actor),
                            actor=actor)


SERVICES = {
    "payments.refunds.refund_issue": _refund_issue,
    "payments.charges.payment_retry": _payment_retry,
    "payments.charges.invoice_charge": _invoice_charge,
    "payments.charges.invoice_charge_outstanding": _invoice_charge_outstanding,
    "payments.credit.credit_grant": _credit_grant,
    "payments.credit.credit_debit": _credit_debit,
    "payments.credit.credit_apply_to_invoice": _credit_apply_to_invoice,
    "payments.outcomes.charge_outcome_record": _charge_outcome_record,
    "payments.outcomes.refund_outcome_record": _refund_outcome_record,
    "customers.services.customer_note_add": _note_add,
    "customers.services.customer_tag_add": _tag_add,
    "customers.services.customer_tag_remove": _tag_remove,
    "customers.services.customer_profile_update": _profile_update,
    "portal.services.api_token_create": _api_token_create,
    "portal.services.api_token_revoke": _api_token_revoke,
    "support.services.email_send": _email_send,
    "support.services.ticket_open": _ticket_open,
    "support.services.ticket_comment_add": _ticket_comment_add,
    "support.services.ticket_status_change": _ticket_status_change,
    "support.services.ticket_priority_change": _ticket_priority_change,
    "support.services.ticket_assign": _ticket_assign,
    "customers.services.customer_owner_set": _owner_set,
    "support.escalations.escalation_raise": _escalation_raise,
    "support.escalations.escalation_resolve": _escalation_resolve,
    "payments.card_links.card_link_send": _card_link_send,
    "payments.card_links.card_link_open": _card_link_open,
    "payments.card_links.card_link_complete": _card_link_complete,
    "portal.approvals.approval_request": _approval_request,
    "portal.approvals.approval_approve": _approval_approve,
    "portal.approvals.approval_reject": _approval_reject,
    "subscriptions.services.subscription_change_plan": _subscription_change_plan,
    "subscriptions.services.subscription_scheduled_change_cancel": _subscription_scheduled_change_cancel,
    "subscriptions.services.subscription_cancel": _subscription_cancel,
    "subscriptions.services.subscription_cancel_undo": _subscription_cancel_undo,
    "subscriptions.services.subscription_pause": _subscription_pause,
    "subscriptions.services.subscription_resume": _subscription_resume,
    "subscriptions.services.subscription_extend_trial": _subscription_extend_trial,
    "subscriptions.retention.retention_offer_make": _retention_offer_make,
    "subscriptions.retention.retention_offer_accept": _retention_offer_accept,
    "subscriptions.retention.retention_offer_decline": _retention_offer_decline,
    "payments.credit.credit_add_for_proration": _credit_add_for_proration,
    "payments.invoices.invoice_issue": _invoice_issue,
}
# Functions that look like services (keyword-only `actor`) but are not writes a caller makes: why, by name.
NOT_SERVICES: dict[str, str] = {
    "payments.policy.refund_verdict": "a read: what the refund policy answers for this actor",
    "payments.policy.credit_verdict": "a read: what the credit limit answers for this actor",
    "payments.charges.retry_verdict": "a read: whether this actor may retry the payment",
    "payments.outcomes.invoice_settle_if_covered": "a step of charge_outcome_record and credit_apply_to_invoice "
                                                   "(both exercised here), inside their transaction",
    "payments.gateway_calls.charge_submit": "the gateway call, made outside any transaction; what it learns is "
                                            "recorded by payments.outcomes.charge_outcome_record (exercised here)",
    "payments.gateway_calls.refund_submit": "the same for refunds: payments.outcomes.refund_outcome_record",
    "portal.audit.audit_record": "the kernel call every service makes to write the audit row",
    "portal.selectors.audit_events": "a read: `actor` filters the audit log by username",
    "subscriptions.services.action_verdicts": "a read: what each subscription action answers for this actor",
    "subscriptions.state.subscription_record": "the one writer of subscription state, called by every "
                                               "subscriptions.services action (each exercised here) and every "
                                               "billing job (JOBS, below)",
}


def _modules_with_actor_functions(config) -> set[str]:
    """Modules of the app (any depth, migrations left out) defining a public function with keyword-only `actor`,
    found by reading the source, so that no module has to be imported just to be looked at."""
    found = set()
    app_dir = Path(config.path)
    for path in app_dir.rglob("*.py"):
        if "migrations" in path.relative_to(app_dir).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if (isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
                    and any(arg.arg == "actor" for arg in node.args.kwonlyargs)):
                parts = path.relative_to(app_dir).with_suffix("").parts
                found.add(".".join((config.name, *(parts[:-1] if parts[-1] == "__init__" else parts))))
                break
    return found


def write_services() -> set[str]:
    """Every public function of a project app that takes a keyword-only `actor`: the services in `services.py`,
    and those an app keeps in a module of their own (support/escalations.py)."""
    found = set()
    root = Path(settings.BASE_DIR).resolve()
    for config in apps.get_app_configs():
        if root not in Path(config.path).resolve().parents:
            continue
        module_names = _modules_with_actor_functions(config)
        if importlib.util.find_spec(f"{config.name}.services") is not None:
            module_names.add(f"{config.name}.services")
        for module_name in sorted(module_names):
            module = importlib.import_module(module_name)
            for name, function in inspect.getmembers(module, inspect.isfunction):
                if name.startswith("_") or function.__module__ != module_name:
                    continue
                parameters = inspect.signature(function).parameters
                if "actor" in parameters and parameters["actor"].kind is inspect.Parameter.KEYWORD_ONLY:
                    found.add(f"{module_name}.{name}")
    return found


def test_the_discovery_finds_services_outside_services_py():
    assert "support.escalations.escalation_raise" in write_services()


def test_every_write_service_is_exercised():
    assert write_services() - set(NOT_SERVICES) == set(SERVICES), (
        "add each new service to SERVICES (how to call it) so its audit rows are checked for personal values")


def _strings(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def personal_values_in(model) -> list[tuple[str, str]]:
    """(column, personal value) for each personal value found in any column of any row of `model`."""
    hits = []
    for row in model.objects.values():
        for column, value in row.items():
            for text in _strings(value):
                for personal in PERSONAL_VALUES:
                    # Two-letter country codes only as a whole value; the distinctive values anywhere in a text.
                    if text == personal or (len(personal) > 2 and personal.lower() in text.lower()):
                        hits.append((f"{model.__name__}.{column}", personal))
    return hits


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_leaves_no_personal_value_in_undeletable_rows(service, agent, approval_kinds):
    customer = CustomerFactory(**BEFORE)
    SERVICES[service](Customer.objects.get(pk=customer.pk), agent)
    assert AuditEvent.objects.exists(), f"{service} wrote no audit row"
    for model in (AuditEvent, AccessLog, ActivityEvent):
        assert personal_values_in(model) == [], f"{service} copied personal values into {model.__name__}"


# ---- Scheduled jobs --------------------------------------------------------------------------------------------
#
# The billing jobs (a public `run_*` function of an app that takes a keyword-only `now`) write audit rows without an
# actor. Each is run on a customer with the personal values above, on committed data: the jobs charge the sandbox
# gateway after each commit, and the emails they send render those values.

def _billed(customer, **fields):
    from tests.subscriptions.factories import billed_subscription

    return billed_subscription(customer=customer, **fields)


def _hours_ago(hours):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(hours=hours)


def _run_trial_ends(customer):
    from subscriptions.billing import run_trial_ends

    _billed(customer, status="trial", period_end=_hours_ago(1), card="pm_card_chargeDeclinedInsufficientFunds")
    run_trial_ends()


def _run_renewals(customer):
    from subscriptions.billing import run_renewals
    from tests.factories import PlanFactory

    _billed(customer, period_end=_hours_ago(1), card="pm_card_chargeDeclinedInsufficientFunds",
                  scheduled_plan=PlanFactory(code="bigger", price=2500), discount_percent=20, discount_cycles_left=1)
    run_renewals()


def _run_period_end_cancels(customer):
    from subscriptions.billing import run_period_end_cancels

    _billed(customer, period_end=_hours_ago(1), cancel_at_period_end=True, cancel_reason="too_expensive")
    run_period_end_cancels()


def _run_resumes(customer):
    from subscriptions.billing import run_resumes

    _billed(customer, status="paused", period_end=_hours_ago(24 * 20), resume_on=_hours_ago(1).date())
    run_resumes()


def _dunning(customer):
    """A renewal that failed 8 days ago, walked through a retry and the end of the schedule: suspended."""
    from subscriptions.billing import run_dunning, run_renewals

    _billed(customer, period_end=_hours_ago(24 * 8 + 1), card="pm_card_chargeDeclinedInsufficientFunds")
    run_renewals(now=_hours_ago(24 * 8))
    run_dunning(now=_hours_ago(24 * 7 - 1))
    run_dunning()


def _run_dunning(customer):
    _dunning(customer)


def _run_expiry(customer):
    from datetime import timedelta

    from subscriptions.billing import run_expiry

    _dunning(customer)
    run_expiry(now=_hours_ago(0) + timedelta(days=30))


def _run_cancels_after_settle(customer):
    from subscriptions.billing import run_cancels_after_settle

    _billed(customer, period_end=_hours_ago(-24 * 10), cancel_after_settle="now", cancel_reason="not_using")
    run_cancels_after_settle()


JOBS = {
    "subscriptions.billing.run_trial_ends": _run_trial_ends,
    "subscriptions.billing.run_renewals": _run_renewals,
    "subscriptions.billing.run_period_end_cancels": _run_period_end_cancels,
    "subscriptions.billing.run_resumes": _run_resumes,
    "subscriptions.billing.run_dunning": _run_dunning,
    "subscriptions.billing.run_expiry": _run_expiry,
    "subscriptions.billing.run_cancels_after_settle": _run_cancels_after_settle,
}
# Functions that look like jobs but only run others: why, by name.
NOT_JOBS: dict[str, str] = {"subscriptions.billing.run_all": "runs the billing jobs above in order (billing.JOBS)"}


def scheduled_jobs() -> set[str]:
    """Every public `run_*` function of a project app that takes a keyword-only `now`, found by reading the source."""
    found = set()
    root = Path(settings.BASE_DIR).resolve()
    for config in apps.get_app_configs():
        app_dir = Path(config.path)
        if root not in app_dir.resolve().parents:
            continue
        for path in app_dir.rglob("*.py"):
            if "migrations" in path.relative_to(app_dir).parts:
                continue
            parts = path.relative_to(app_dir).with_suffix("").parts
            module = ".".join((config.name, *(parts[:-1] if parts[-1] == "__init__" else parts)))
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if (isinstance(node, ast.FunctionDef) and node.name.startswith("run_")
                        and any(arg.arg == "now" for arg in node.args.kwonlyargs)):
                    found.add(f"{module}.{node.name}")
    return found


def test_every_scheduled_job_is_exercised():
    assert scheduled_jobs() - set(NOT_JOBS) == set(JOBS), (
        "add each new job to JOBS so its audit rows are checked for personal values")


@pytest.mark.parametrize("job", sorted(JOBS))
def test_a_scheduled_job_leaves_no_personal_value_in_undeletable_rows(job, transactional_db):
    from portal.roles import sync_roles
    from tests.subscriptions.conftest import restore_billing_templates

    sync_roles()  # the flush after a transactional test removes what the data migrations made
    restore_billing_templates()
    customer = CustomerFactory(**BEFORE)
    before = AuditEvent.objects.count()
    JOBS[job](Customer.objects.get(pk=customer.pk))
    assert AuditEvent.objects.count() > before, f"{job} wrote no audit row"
    for model in (AuditEvent, AccessLog, ActivityEvent):
        assert personal_values_in(model) == [], f"{job} copied personal values into {model.__name__}"


def test_the_profile_edit_names_every_changed_field(agent):
    customer = CustomerFactory(**BEFORE)
    _profile_update(customer, agent)
    event = AuditEvent.objects.get(action="customers.profile.updated")
    assert (event.before, event.after, event.data) == ({}, {}, {"fields": list(PROFILE_FIELDS)})
