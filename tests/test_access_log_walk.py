"""Every response that carries a customer's personal data writes an AccessLog row: checked on every URL.

The walk calls each URL pattern of the portal the ways it can be called (a page, an htmx partial, the JSON API;
reads, writes that change something, writes that change nothing, writes that are refused) against a customer with
distinctive personal values. Whenever a response body contains one of a customer's values, that request must
have written an AccessLog row for that customer. Each call also says whether it discloses the customer's data
(a PDF or a payments list carries it without a name in plain text), and that must match what was logged.

A URL pattern the walk does not know how to call fails `test_the_walk_knows_every_route`: a new route is
classified here when it is added.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import pytest
from django.apps import apps
from django.contrib import admin
from django.db.models import Max
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from django.utils import timezone

from customers import services
from payments.card_links import card_link_send, card_link_token
from payments.models import PaymentMethodLink
from support.services import ticket_open
from customers.models import CustomerTag
from portal.models import AccessLog, ApiToken
from support.escalations import escalation_raise
from tests.factories import (
    ActivityEventFactory, CustomerFactory, NoteFactory, PaymentFactory, PaymentMethodFactory, PlanFactory,
    SubscriptionFactory, TagFactory,
)
from tests.approval_kinds import request_tag
from tests.support.factories import TicketFactory

pytestmark = pytest.mark.django_db

NOTE_TEXT = "Xyloquartz promised a callback"


@dataclass
class World:
    subject: object
    other: object
    invoice: object
    token: object
    ticket: object = None
    payment: object = None
    escalation: object = None
    captured: object = None
    card_link: object = None
    used_card_link: object = None
    approval: object = None  # pending, asked by the agent for the subject
    own_approval: object = None  # pending, asked by the manager
    subscription: object = None  # the subject's, active on Pro Monthly


@pytest.fixture
def world(agent, manager, approval_kinds):
    plan = PlanFactory(code="pro-monthly", name="Pro Monthly", price=2500)
    subject = CustomerFactory(first_name="Zebulonqx", last_name="Quorvath", email="zebulonqx.old@pii.example",
                              phone="+1 555 0199", address_line1="Quillfeather Lane 7", city="Vexmoor",
                              postal_code="QX9 7ZZ", country="GB", status="active", plan=plan, mrr=2500)
    other = CustomerFactory(first_name="Ottoline", last_name="Brackwater", email="ottoline@pii.example",
                            phone="+1 555 0142", address_line1="Marrowgate 3")
    card = PaymentMethodFactory(customer=subject)
    subscription = SubscriptionFactory(customer=subject, plan=plan, payment_method=card)
    PlanFactory(code="team-monthly", name="Team Monthly", price=4900, rank=1)
    payment = PaymentFactory(customer=subject, payment_method=card)
    NoteFactory(customer=subject, author=agent, body=NOTE_TEXT)
    ActivityEventFactory(customer=subject, summary="Plan changed")
    CustomerTag.objects.create(customer=subject, tag=TagFactory(name="vip"))
    TagFactory(name="gold")
    # A real edit, so the audit page has a profile change to show (names of fields, never the values).
    services.customer_profile_update(customer=subject, actor=agent, first_name="Zebulonqx", last_name="Quorvath",
                                     email="zebulonqx@pii.example", phone="+1 555 0199",
                                     address_line1="Quillfeather Lane 7", city="Vexmoor", postal_code="QX9 7ZZ",
                                     country="GB")
    subject.refresh_from_db()
    token = ApiToken.objects.create(user=agent, name="walk", key_hash="0" * 64, hint="cpt_walk")
    failed = PaymentFactory(customer=subject, payment_method=card, status="failed", failure_message="Card declined")
    ticket = ticket_open(customer=subject, subject="Renewal declined", description="Asked to retry tomorrow",
                         actor=agent, payment=failed)
    # An open escalation of one of the subject's tickets (a customer-level one can still be raised).
    escalation = escalation_raise(customer=subject, ticket=TicketFactory(customer=subject), reason="complaint",
                                  note=NOTE_TEXT, actor=agent)
    card_link = card_link_send(customer=subject, actor=agent)
    used_card_link = card_link_send(customer=subject, actor=agent)
    PaymentMethodLink.objects.filter(pk=used_card_link.pk).update(used_at=timezone.now())
    # Approval requests about the subject: one the manager decides, one the manager asked for (not theirs to decide).
    approval = request_tag(customer=subject, actor=agent, tag="loyal", note=NOTE_TEXT, amount=1200)
    own_approval = request_tag(customer=subject, actor=manager, tag="partner")
    subject.refresh_from_db()
    return World(subject=subject, other=other, invoice=payment.invoice, token=token, ticket=ticket, payment=failed,
                 escalation=escalation, captured=payment, card_link=card_link, used_card_link=used_card_link,
                 approval=approval, own_approval=own_approval, subscription=subscription)


def personal_values(customer) -> list[str]:
    customer.refresh_from_db()
    values = [customer.first_name, customer.last_name, customer.email, customer.phone, customer.address_line1,
              customer.city, customer.postal_code]
    if customer.notes.filter(body=NOTE_TEXT).exists():
        values.append(NOTE_TEXT)
    return [value for value in values if value]


# ---- How to call each route ------------------------------------------------------------------------------------

def _subject(world):
    return {"public_id": world.subject.public_id}


def _ticket(world):
    return {"ticket_id": world.ticket.public_id}


def _captured(world):
    return {"public_id": world.captured.public_id}


def _failed(world):
    return {"public_id": world.payment.public_id}


REFUND = {"amount": "5.00", "reason": "duplicate"}
CREDIT = {"direction": "grant", "amount": "5.00", "reason": "Outage"}


def _ticket_api(world):
    return {"public_id": world.ticket.public_id}


TICKET_NEW = {"subject": "Card question", "description": "Called about the decline", "priority": "normal"}


def _card_link(world):
    return {"token": card_link_token(world.card_link)}


CARD = {"card_number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"}


def _escalation(world):
    return {"escalation_id": world.escalation.public_id}


def _approval(world):
    return {"approval_id": world.approval.public_id}


def _own_approval(world):
    return {"approval_id": world.own_approval.public_id}


def _subscription(world):
    return {"public_id": world.subscription.public_id}


def _tab(tab):
    return lambda world: {**_subject(world), "tab": tab}


PROFILE_NOOP = {"first_name": "Zebulonqx", "last_name": "Quorvath", "email": "zebulonqx@pii.example",
                "phone": "+1 555 0199", "address_line1": "Quillfeather Lane 7", "address_line2": "", "city": "Vexmoor",
                "postal_code": "QX9 7ZZ", "country": "GB"}
PROFILE_CHANGE = {**PROFILE_NOOP, "phone": "+1 555 0177", "city": "Wrenhallow"}
PROFILE_INVALID = {**PROFILE_NOOP, "email": "not-an-email"}


@dataclass(frozen=True)
class Call:
    route: str
    method: str = "get"
    kind: str = "page"  # page: a plain browser request; htmx: a partial; api: JSON with a bearer token
    discloses: bool = False  # the response carries the subject's personal data
    kwargs: Callable = lambda world: {}
    data: dict | None = None
    query: dict | None = None
    target: str | None = None  # the HX-Target of an htmx request
    persona: str | None = "agent"  # None: signed out
    note: str = ""

    @property
    def id(self) -> str:
        return "-".join(part for part in (self.route, self.method, self.kind, self.note) if part)


def _profile_tab_calls():
    for tab in ("subscriptions", "payments", "tickets", "activity", "notes", "emails"):
        yield Call("customers:profile_tab", kind="page", discloses=True, kwargs=_tab(tab), note=tab)
        yield Call("customers:profile_tab", kind="htmx", discloses=True, kwargs=_tab(tab), target="profile-tabs",
                   note=tab)
        yield Call("customers:profile_tab", kind="htmx", discloses=True, kwargs=_tab(tab), target=f"{tab}-more",
                   note=f"{tab}-more")


CALLS = [
    Call("home"),
    Call("healthz", persona=None),
    Call("favicon", persona=None),
    Call("login", persona=None),
    Call("logout", method="post"),
    Call("portal:audit", persona="manager"),
    Call("portal:audit", kind="htmx", persona="manager", target="audit-results"),
    # The access log names customers by public id only: reading it is not a read of their data
    Call("portal:access_log", persona="manager"),
    Call("portal:access_log", kind="htmx", persona="manager", target="access-results",
         query={"user": "agent"}, note="by-user"),
    Call("portal:settings"),
    Call("portal:api_token_create", method="post", data={"name": "ci"}),
    Call("portal:api_token_revoke", method="post", kwargs=lambda world: {"token_id": world.token.pk}),
    # Directory: every listed customer is disclosed
    Call("customers:directory", discloses=True),
    Call("customers:directory", kind="htmx", discloses=True, query={"q": "zebulonqx"}, target="directory-results"),
    Call("customers:directory", query={"q": "zebulonqx@pii.example"}, note="exact-email-redirects"),
    Call("customers:directory", query={"q": "nobody-matches-this"}, note="no-match"),
    # The header search's dropdown: every customer it lists is disclosed
    Call("customers:search_matches", kind="htmx", discloses=True, query={"q": "zebulonqx"}, target="search-matches"),
    Call("customers:search_matches", kind="htmx", discloses=True, query={"q": "lonqx@pii"}, target="search-matches",
         note="email-part"),
    Call("customers:search_matches", kind="htmx", query={"q": "nobody-matches-this"}, target="search-matches",
         note="no-match"),
    Call("customers:search_matches", kind="htmx", query={"q": "  "}, target="search-matches", note="blank"),
    Call("customers:search_matches", kind="htmx", query={"q": "x" * 201}, target="search-matches", note="too-long"),
    # Profile
    Call("customers:profile", discloses=True, kwargs=_subject),
    Call("customers:profile", kind="htmx", discloses=True, kwargs=_subject, target="profile-tabs"),
    *_profile_tab_calls(),
    Call("customers:profile_edit", discloses=True, kwargs=_subject),
    Call("customers:profile_edit", kind="htmx", discloses=True, kwargs=_subject),
    Call("customers:profile_edit", "post", "htmx", True, _subject, PROFILE_CHANGE, note="change"),
    Call("customers:profile_edit", "post", "htmx", True, _subject, PROFILE_NOOP, note="noop"),
    Call("customers:profile_edit", "post", "htmx", True, _subject, PROFILE_INVALID, note="invalid"),
    Call("customers:profile_edit", "post", "page", False, _subject, PROFILE_CHANGE, note="change-redirects"),
    Call("customers:profile_edit", "post", "page", False, _subject, PROFILE_NOOP, note="noop-redirects"),
    Call("customers:profile_edit", "post", "page", True, _subject, PROFILE_INVALID, note="invalid"),
    Call("customers:note_add", "post", "htmx", True, _subject, {"body": "Second call"}, note="valid"),
    Call("customers:note_add", "post", "htmx", True, _subject, {"body": ""}, note="invalid"),
    Call("customers:note_add", "post", "page", False, _subject, {"body": "Second call"}, note="redirects"),
    Call("customers:tag_add", "post", "htmx", True, _subject, {"name": "gold"}, note="valid"),
    Call("customers:tag_add", "post", "htmx", True, _subject, {"name": "VIP"}, note="duplicate"),
    Call("customers:tag_add", "post", "page", False, _subject, {"name": "gold"}, note="redirects"),
    Call("customers:tag_remove", "post", "htmx", True, _subject, {"name": "vip"}, note="valid"),
    Call("customers:tag_remove", "post", "htmx", True, _subject, {"name": "none-such"}, note="invalid"),
    Call("customers:tag_remove", "post", "page", False, _subject, {"name": "vip"}, note="redirects"),
    Call("customers:tag_suggest", kind="htmx", kwargs=_subject, query={"name": "go"}, target="tag-suggestions"),
    # Emails: the dialog and its preview are rendered for the customer; the send answers with the header
    Call("support:email_new", discloses=True, kwargs=_subject),
    Call("support:email_new", kind="htmx", discloses=True, kwargs=_subject, target="email-send-body"),
    Call("support:email_preview", kind="htmx", discloses=True, kwargs=_subject, query={"template": "welcome"},
         target="email-preview"),
    Call("support:email_preview", kind="htmx", discloses=True, kwargs=_subject, query={"template": "newsletter"},
         target="email-preview", note="no-consent"),
    Call("support:email_send", "post", "htmx", True, _subject, {"template": "welcome"}, note="valid"),
    Call("support:email_send", "post", "htmx", True, _subject, {"template": "newsletter"}, note="refused"),
    Call("support:email_send", "post", "page", False, _subject, {"template": "welcome"}, note="redirects"),
    Call("support:email_send", "post", "page", True, _subject, {"template": ""}, note="invalid"),
    # Tickets: the queues list customers by name with the subject of their request; a ticket's page has the
    # customer's header; every write answers with the ticket's body, or redirects
    Call("support:tickets", discloses=True, query={"queue": "open"}),
    Call("support:tickets", kind="htmx", discloses=True, query={"queue": "open"}, target="tickets-results"),
    Call("support:tickets", kind="htmx", discloses=True, query={"queue": "open"}, target="tickets-more",
         note="more"),
    Call("support:tickets", query={"queue": "pending"}, note="empty-queue"),
    Call("support:tickets", discloses=True, query={"queue": "escalated"}, note="escalated-queue"),
    Call("support:ticket", discloses=True, kwargs=_ticket),
    Call("support:ticket_new", discloses=True, kwargs=_subject),
    Call("support:ticket_new", discloses=True, kwargs=_subject, query={"payment": "pay_none"}, note="bad-payment"),
    Call("support:ticket_new", "post", "page", False, _subject, TICKET_NEW, note="redirects"),
    Call("support:ticket_new", "post", "page", True, _subject, {**TICKET_NEW, "subject": ""}, note="invalid"),
    Call("support:ticket_comment", "post", "htmx", True, _ticket, {"body": "Second call", "public": "0"},
         note="note"),
    Call("support:ticket_comment", "post", "htmx", True, _ticket, {"body": "Retry worked?", "public": "1"},
         note="reply"),
    Call("support:ticket_comment", "post", "htmx", True, _ticket, {"body": "", "public": "1"}, note="invalid"),
    Call("support:ticket_comment", "post", "page", False, _ticket, {"body": "Second call", "public": "0"},
         note="redirects"),
    Call("support:ticket_status", "post", "htmx", True, _ticket, {"status": "pending"}, note="valid"),
    Call("support:ticket_status", "post", "htmx", True, _ticket, {"status": "escalated"}, note="refused"),
    Call("support:ticket_status", "post", "page", False, _ticket, {"status": "solved"}, note="redirects"),
    Call("support:ticket_priority", "post", "htmx", True, _ticket, {"priority": "urgent"}, note="valid"),
    Call("support:ticket_priority", "post", "page", False, _ticket, {"priority": "low"}, note="redirects"),
    Call("support:ticket_assign", "post", "htmx", True, _ticket, {"assignee": "agent"}, note="valid"),
    Call("support:ticket_assign", "post", "htmx", True, _ticket, {"assignee": "ghost"}, note="invalid"),
    Call("support:ticket_assign", "post", "page", False, _ticket, {"assignee": ""}, note="redirects"),
    Call("customers:owner_set", "post", "htmx", True, _subject, {"owner": "me"}, note="valid"),
    Call("customers:owner_set", "post", "htmx", True, _subject, {"owner": "nobody-here"}, note="invalid"),
    Call("customers:owner_set", "post", "page", False, _subject, {"owner": "me"}, note="redirects"),
    # Escalations: the queue shows each escalated customer's name, payments and tickets
    Call("customers:escalate", discloses=True, kwargs=_subject),
    Call("customers:escalate", kind="htmx", discloses=True, kwargs=_subject, target="escalate-body"),
    Call("customers:escalate", "post", "htmx", True, _subject, {"reason": "billing_dispute"}, note="valid"),
    Call("customers:escalate", "post", "htmx", True, _subject, {"reason": ""}, note="invalid"),
    Call("customers:escalate", "post", "page", False, _subject, {"reason": "billing_dispute"}, note="redirects"),
    Call("escalations:queue", persona="manager", discloses=True),
    Call("escalations:queue", kind="htmx", persona="manager", discloses=True, target="escalations-more",
         note="more"),
    Call("escalations:queue", persona="manager", query={"status": "resolved"}, note="none-resolved"),
    Call("escalations:resolve", "post", "htmx", True, _escalation, {"note": "Done"}, persona="manager",
         target="escalation", note="valid"),
    Call("escalations:resolve", "post", "htmx", True, _escalation, {"note": ""}, persona="manager", note="invalid"),
    Call("escalations:resolve", "post", "page", False, _escalation, {"note": "Done"}, persona="manager",
         note="redirects"),
    # Card-update links: the confirm step names the address the link goes to; the send answers with the header.
    # The customer's page (no sign-in) greets them by first name: logged with no user.
    Call("card_links:new", discloses=True, kwargs=_subject),
    Call("card_links:new", kind="htmx", discloses=True, kwargs=_subject, target="card-link-body"),
    Call("card_links:send", "post", "htmx", True, _subject, {"form_token": "a" * 32}, note="valid"),
    Call("card_links:send", "post", "htmx", True, _subject, {"form_token": "bad"}, note="invalid"),
    Call("card_links:send", "post", "page", False, _subject, {"form_token": "b" * 32}, note="redirects"),
    Call("card_links:page", discloses=True, kwargs=_card_link, persona=None),
    Call("card_links:page", "post", "page", True, _card_link, {**CARD, "cvc": "1"}, persona=None, note="invalid"),
    Call("card_links:page", "post", "page", True, _card_link, CARD, persona=None, note="saved"),
    Call("card_links:page", kwargs=lambda world: {"token": card_link_token(world.used_card_link)}, persona=None,
         note="used"),
    Call("card_links:page", kwargs=lambda world: {"token": "pml_forged:abc"}, persona=None, note="tampered"),
    # Approvals: each request names its customer; the sidebar's count names nobody
    Call("portal:approvals", persona="manager", discloses=True),
    Call("portal:approvals", persona="manager", query={"tab": "decided"}, note="none-decided"),
    Call("portal:approvals", discloses=True, query={"tab": "mine"}, note="mine"),
    Call("portal:approvals", kind="htmx", persona="manager", discloses=True, target="approvals-more", note="more"),
    Call("portal:approvals_badge", kind="htmx", persona="manager"),
    Call("portal:approval_approve", "post", "htmx", True, _approval, {"comment": "Fine"}, persona="manager",
         note="valid"),
    Call("portal:approval_approve", "post", "htmx", True, _own_approval, {"comment": "Mine"}, persona="manager",
         note="own-refused"),
    Call("portal:approval_approve", "post", "page", False, _approval, {"comment": "Fine"}, persona="manager",
         note="redirects"),
    Call("portal:approval_reject", "post", "htmx", True, _approval, {"comment": "No"}, persona="manager",
         note="valid"),
    Call("portal:approval_reject", "post", "htmx", True, _approval, {"comment": ""}, persona="manager",
         note="invalid"),
    Call("portal:approval_reject", "post", "page", False, _approval, {"comment": "No"}, persona="manager",
         note="redirects"),
    # Invoices: name and billing address
    Call("payments:invoice", discloses=True, kwargs=lambda world: {"public_id": world.invoice.public_id}),
    Call("payments:invoice_pdf", discloses=True, kwargs=lambda world: {"public_id": world.invoice.public_id}),
    # Money actions: the dialogs are rendered for the payment and its customer; a valid write answers with a
    # redirect to the Payments tab (htmx: HX-Redirect, no body), an invalid one with the form again
    Call("payments:refund_new", discloses=True, kwargs=_captured),
    Call("payments:refund_new", kind="htmx", discloses=True, kwargs=_captured, target="money-body"),
    Call("payments:refund_preview", kind="htmx", discloses=True, kwargs=_captured, query={"amount": "3.00"},
         target="refund-verdict"),
    Call("payments:refund_create", "post", "htmx", False, _captured, REFUND, note="valid"),
    Call("payments:refund_create", "post", "htmx", True, _captured, {**REFUND, "amount": "x"}, note="invalid"),
    Call("payments:refund_create", "post", "page", False, _captured, REFUND, note="redirects"),
    Call("payments:retry", "post", "htmx", False, _failed, {}, note="refused"),
    Call("payments:retry", "post", "page", False, _failed, {}, note="redirects"),
    Call("payments:credit_new", discloses=True, kwargs=_subject),
    Call("payments:credit_new", kind="htmx", discloses=True, kwargs=_subject, target="money-body"),
    Call("payments:credit_create", "post", "htmx", False, _subject, CREDIT, note="valid"),
    Call("payments:credit_create", "post", "htmx", True, _subject, {**CREDIT, "amount": "-1"}, note="invalid"),
    Call("payments:credit_create", "post", "page", False, _subject, CREDIT, note="redirects"),
    Call("api_payment_detail", kind="api", discloses=True, kwargs=_captured),
    Call("api_payment_refunds", kind="api", discloses=True, kwargs=_captured),
    Call("api_payment_refunds", "post", "api", True, _captured, {"amount": 500, "reason": "duplicate"}),
    Call("api_payment_refunds", "post", "api", False, _captured, {"amount": "5", "reason": "duplicate"},
         note="invalid"),
    Call("api_payment_retry", "post", "api", False, _failed, {}, note="refused"),
    Call("api_customer_credits", kind="api", discloses=True, kwargs=_subject),
    Call("api_customer_credits", "post", "api", True, _subject, {"amount": 500, "reason": "Outage"}),
    Call("api_customer_credits", "post", "api", False, _subject, {"amount": 0, "reason": "Outage"}, note="invalid"),
    # Payment providers' signed events: the answer says only whether the event was taken
    Call("webhooks:stripe", "post", persona=None, data={"id": "evt_walk"}, note="unsigned"),
    # JSON API
    Call("api_me", kind="api"),
    Call("api_customer_list", kind="api", discloses=True, query={"q": "zebulonqx"}),
    Call("api_customer_list", kind="api", query={"q": "nobody-matches-this"}, note="no-match"),
    Call("api_customer_detail", kind="api", discloses=True, kwargs=_subject),
    Call("api_customer_detail", "patch", "api", True, _subject, {"city": "Wrenhallow"}, note="change"),
    Call("api_customer_detail", "patch", "api", True, _subject, {"city": "Vexmoor"}, note="noop"),
    Call("api_customer_detail", "patch", "api", True, _subject, {}, note="empty"),
    Call("api_customer_detail", "patch", "api", False, _subject, {"email": "nope"}, note="invalid"),
    Call("api_customer_payments", kind="api", discloses=True, kwargs=_subject),
    Call("api_customer_activity", kind="api", discloses=True, kwargs=_subject),
    Call("api_customer_notes", kind="api", discloses=True, kwargs=_subject),
    Call("api_customer_notes", "post", "api", True, _subject, {"body": "Second call"}),
    Call("api_customer_notes", "post", "api", False, _subject, {"body": ""}, note="invalid"),
    Call("api_customer_emails", kind="api", discloses=True, kwargs=_subject),
    Call("api_customer_emails", "post", "api", True, _subject, {"template": "welcome"}),
    Call("api_customer_emails", "post", "api", False, _subject, {"template": "newsletter"}, note="refused"),
    Call("api_customer_emails", "post", "api", False, _subject, {"template": 3}, note="invalid"),
    Call("api_customer_tickets", kind="api", discloses=True, kwargs=_subject),
    Call("api_customer_tickets", "post", "api", True, _subject, {"subject": "Refund", "body": "Asked for it"}),
    Call("api_customer_tickets", "post", "api", False, _subject, {"subject": ""}, note="invalid"),
    Call("api_tickets", kind="api", discloses=True, query={"queue": "open"}),
    Call("api_tickets", kind="api", query={"queue": "mine"}, note="empty-queue"),
    Call("api_ticket", kind="api", discloses=True, kwargs=_ticket_api),
    # A comment's answer is the comment the agent wrote, not the customer's data
    Call("api_ticket_comments", "post", "api", False, _ticket_api, {"body": "Second call", "public": False}),
    Call("api_ticket_comments", "post", "api", False, _ticket_api, {"body": ""}, note="invalid"),
    Call("api_ticket_status", "post", "api", True, _ticket_api, {"status": "pending"}),
    Call("api_ticket_status", "post", "api", False, _ticket_api, {"status": "escalated"}, note="refused"),
    Call("api_ticket_priority", "post", "api", True, _ticket_api, {"priority": "high"}),
    Call("api_ticket_assign", "post", "api", True, _ticket_api, {"assignee": "agent"}),
    Call("api_ticket_assign", "post", "api", False, _ticket_api, {"assignee": "ghost"}, note="invalid"),
    Call("api_customer_tags", "post", "api", True, _subject, {"name": "gold"}),
    Call("api_customer_tags", "post", "api", False, _subject, {"name": "vip"}, note="duplicate"),
    Call("api_customer_tag", "delete", "api", True, lambda world: {**_subject(world), "name": "vip"}),
    Call("api_customer_tag", "delete", "api", False, lambda world: {**_subject(world), "name": "none-such"},
         note="invalid"),
    Call("api_customer_escalations", "post", "api", True, _subject, {"reason": "billing_dispute"}),
    Call("api_customer_escalations", "post", "api", False, _subject, {"reason": "bored"}, note="invalid"),
    # A link's id, expiry and email id: nothing personal
    Call("api_customer_card_link", "post", "api", False, _subject, {}),
    Call("api_escalation_list", kind="api", persona="manager", discloses=True),
    Call("api_escalation_list", kind="api", persona="manager", query={"status": "resolved"}, note="none-resolved"),
    Call("api_escalation_resolve", "post", "api", True, _escalation, {"note": "Done"}, persona="manager"),
    Call("api_escalation_resolve", "post", "api", False, _escalation, {"note": ""}, persona="manager",
         note="invalid"),
    # Subscriptions: every answer but a refusal carries the subscription, which is the customer's data
    Call("api_subscription_detail", kind="api", discloses=True, kwargs=_subscription),
    Call("api_subscription_change_plan", "post", "api", True, _subscription, {"plan": "team-monthly",
                                                                              "preview": True}, note="preview"),
    Call("api_subscription_change_plan", "post", "api", True, _subscription, {"plan": "team-monthly"}),
    Call("api_subscription_change_plan", "post", "api", False, _subscription, {"plan": 3}, note="invalid"),
    Call("api_subscription_cancel", "post", "api", True, _subscription,
         {"when": "now", "reason": "other", "preview": True}, note="preview"),
    Call("api_subscription_cancel", "post", "api", True, _subscription, {"when": "period_end", "reason": "other"}),
    Call("api_subscription_cancel", "post", "api", False, _subscription, {"when": "soon", "reason": "other"},
         note="invalid"),
    Call("api_subscription_undo_cancel", "post", "api", True, _subscription, {}, note="noop"),
    Call("api_subscription_pause", "post", "api", True, _subscription, {"resume_on": None}),
    Call("api_subscription_pause", "post", "api", False, _subscription, {"resume_on": "tomorrow"},
         note="invalid"),
    Call("api_subscription_resume", "post", "api", True, _subscription, {}, note="noop"),
    Call("api_subscription_extend_trial", "post", "api", False, _subscription, {"days": 7}, note="refused"),
    Call("api_subscription_cancel_scheduled_change", "post", "api", True, _subscription, {}, note="noop"),
    Call("api_approval_list", kind="api", persona="manager", discloses=True),
    Call("api_approval_list", kind="api", discloses=True, query={"mine": "1"}, note="mine"),
    Call("api_approval_list", kind="api", persona="manager", query={"status": "failed"}, note="none-failed"),
    Call("api_approval_detail", kind="api", persona="manager", discloses=True, kwargs=_approval),
    Call("api_approval_approve", "post", "api", True, _approval, {"comment": "Fine"}, persona="manager"),
    Call("api_approval_approve", "post", "api", False, _own_approval, {}, persona="manager", note="own-refused"),
    Call("api_approval_reject", "post", "api", True, _approval, {"comment": "No"}, persona="manager"),
    Call("api_approval_reject", "post", "api", False, _approval, {"comment": ""}, persona="manager",
         note="invalid"),
]


def _routes(resolver=None, namespace=""):
    """(view name, pattern) of every URL the portal serves; Django's admin is checked on its own below."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            yield from _routes(entry, f"{namespace}{entry.namespace}:" if entry.namespace else namespace)
        elif isinstance(entry, URLPattern):
            yield (f"{namespace}{entry.name}" if entry.name else f"<unnamed {entry.pattern}>"), entry.pattern


def test_the_walk_knows_every_route():
    """A new URL must be added to CALLS: say how to call it and whether it shows a customer's data."""
    unknown = sorted({name for name, _ in _routes()} - {call.route for call in CALLS})
    assert unknown == [], f"classify these routes in {__name__}.CALLS: {unknown}"
    assert {call.route for call in CALLS} <= {name for name, _ in _routes()}, "CALLS names a route that is gone"


# Configuration that the admin edits and that holds nobody's personal data.
ADMIN_CONFIGURATION = ["customers.Storefront", "payments.PaymentRules", "subscriptions.Plan", "support.EmailTemplate"]


def test_the_admin_shows_no_customer_data():
    """Django's admin is not walked: it must not register a model that holds a customer's data."""
    registered = [model._meta.label for app in ("customers", "payments", "subscriptions", "segments", "support",
                                                "privacy", "portal")
                  for model in apps.get_app_config(app).get_models() if admin.site.is_registered(model)]
    assert registered == ADMIN_CONFIGURATION, "walk the admin pages of these models for the access log"


def _client(call: Call, request, api_client_for, client_for) -> tuple[Client, object]:
    if call.persona is None:
        return Client(), None
    user = request.getfixturevalue(call.persona)
    return (api_client_for(user) if call.kind == "api" else client_for(user)), user


@pytest.mark.parametrize("call", CALLS, ids=lambda call: call.id)
def test_a_response_with_personal_data_is_logged(call, world, request, api_client_for, client_for):
    client, user = _client(call, request, api_client_for, client_for)
    url = reverse(call.route, kwargs=call.kwargs(world))
    headers = {}
    if call.kind == "htmx":
        headers = {"HX-Request": "true", **({"HX-Target": call.target} if call.target else {})}
    last_id = AccessLog.objects.aggregate(last=Max("id"))["last"] or 0
    before = {customer.pk: personal_values(customer) for customer in (world.subject, world.other)}

    if call.kind == "api" and call.method != "get":
        response = getattr(client, call.method)(url, data=json.dumps(call.data or {}),
                                                content_type="application/json")
    elif call.method == "get":
        response = client.get(url, call.query or {}, headers=headers)
    else:
        response = getattr(client, call.method)(url, call.data or {}, headers=headers)
    assert response.status_code < 500

    rows = list(AccessLog.objects.filter(id__gt=last_id))
    logged = {row.customer_id for row in rows}
    body = response.content.decode(errors="replace")
    for customer in (world.subject, world.other):
        values = set(before[customer.pk]) | set(personal_values(customer))  # before and after an edit
        shown = sorted(value for value in values if value in body)
        assert not shown or customer.pk in logged, (
            f"{call.id} answered {response.status_code} with {shown} of {customer.public_id} but wrote no "
            f"AccessLog row for them")
    assert (world.subject.pk in logged) == call.discloses, (
        f"{call.id}: expected {'an' if call.discloses else 'no'} AccessLog row for the customer")
    for row in rows:
        assert row.user_id == getattr(user, "pk", None) and row.request_id and row.view.startswith(call.route)
