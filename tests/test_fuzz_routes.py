"""Every route, every method it accepts, hostile input: never a 5xx, and every error under /api/ is the API's JSON
error body ("bad input gets a message on the form or a 4xx JSON body, never a 500").

The walk covers every URL pattern in portal.urls (a new route is fuzzed without touching this file, once its
URL parameters have a real value below); only Django's admin is left out, for the reason in `_routes`. Each route
gets real objects (a customer with a full history, its invoice, a tag, an API token) and, for each method that it
accepts, FUZZ_EXAMPLES generated requests: query strings, form and JSON bodies and URL segments made of huge
strings, control characters, far dates, deep JSON, wrong types, awkward Unicode and numbers past every limit, each
sent signed in as the admin (who may use every route) and anonymously.

Every request runs inside a savepoint that is rolled back, so one example's writes (a note, a revoked token, a
sign-out) never change what the next one meets, and a database error cannot spoil the ones after it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.filters import PARAMETER_NAMES
from customers.forms import ActivityFilterForm, NoteForm, OwnerForm, ProfileForm, TagForm
from payments.card_links import card_link_send, card_link_token
from payments.forms import CardLinkSendForm, SandboxCardForm, StripeCardForm
from payments.models import Invoice, Payment
from portal.approval_forms import ApprovalQueryForm, ApprovalTabForm, DecisionForm
from portal.forms import ApiTokenForm, AuditFilterForm, LoginForm
from portal.services import api_token_create
from subscriptions.models import Subscription
from support.escalation_forms import EscalateForm, ResolveForm
from support.escalations import escalation_raise
from support.forms import QueueForm, TicketAssignForm, TicketCommentForm, TicketOpenForm, TicketStatusForm
from support.services import ticket_comment_add, ticket_open
from tests.approval_kinds import request_tag
from tests.customers.test_profile import make_customer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FUZZ_EXAMPLES = 200
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example, HealthCheck.filter_too_much],
)


# ---- The routes ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    name: str  # for reverse(), with its namespace
    kwargs: tuple[str, ...]  # URL parameters, from every level of includes

    def __str__(self):
        return self.name


def _routes(resolver=None, namespace: str = "", kwargs: tuple[str, ...] = ()):
    for entry in (resolver or get_resolver()).url_patterns:
        names = tuple(_parameter_names(entry.pattern))
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue  # Django's own admin: its forms and changelists are Django's, tested by Django
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _routes(entry, inner, kwargs + names)
        elif isinstance(entry, URLPattern):
            assert entry.name, f"{entry.pattern} has no name: name it, so it can be reversed and fuzzed"
            yield Route(f"{namespace}{entry.name}", kwargs + names)


def _parameter_names(pattern) -> list[str]:
    converters = getattr(pattern, "converters", None)
    if converters:  # path(): <int:token_id>
        return list(converters)
    return list(pattern.regex.groupindex)  # re_path(): (?P<public_id>...)


ROUTES = list(_routes())


def test_the_walk_finds_every_kind_of_route():
    names = {route.name for route in ROUTES}
    assert {"login", "customers:directory", "customers:tag_suggest", "payments:invoice_pdf",
            "api_customer_list", "api_customer_tag"} <= names


# ---- Real objects for the URL parameters -----------------------------------------------------------------------

@dataclass
class World:
    admin: object
    customer: object
    invoice: Invoice
    token_id: int
    api_secret: str
    ticket: object
    escalation_id: str = ""
    approval_id: str = ""
    tag: str = "vip"
    payment_id: str = ""
    card_token: str = ""
    subscription_id: str = ""


def _build_world(admin) -> World:
    customer = make_customer()
    token, _ = api_token_create(user=admin, name="revocable", actor=admin)
    _, secret = api_token_create(user=admin, name="fuzz", actor=admin)
    failed = Payment.objects.filter(customer=customer, status=Payment.Status.FAILED).first()
    ticket = ticket_open(customer=customer, subject="Card declined", description="Asked to retry", actor=admin,
                         payment=failed)
    ticket_comment_add(ticket=ticket, body="Checked the gateway", public=False, actor=admin)
    escalation = escalation_raise(customer=customer, reason="complaint", actor=admin)
    captured = Payment.objects.filter(customer=customer, status__in=Payment.CAPTURED_STATUSES).first()
    card_token = card_link_token(card_link_send(customer=customer, actor=admin))
    # Asked by someone else, so the admin may decide it (fuzzed decisions are rolled back with their request).
    approval = request_tag(customer=customer, actor=UserFactory(username="requester", role="Agent"))
    return World(admin=admin, customer=customer, invoice=Invoice.objects.filter(customer=customer).first(),
                 token_id=token.pk, api_secret=secret, ticket=ticket, escalation_id=escalation.public_id,
                 payment_id=(captured or failed).public_id, card_token=card_token, approval_id=approval.public_id,
                 subscription_id=Subscription.objects.get(customer=customer, status="active").public_id)


def _real_kwargs(route: Route, world: World) -> dict:
    values = {}
    for name in route.kwargs:
        if name == "public_id":
            values[name] = (world.invoice.public_id if route.name.startswith("payments:invoice")
                            else world.payment_id if route.name.startswith(("payments:refund", "payments:retry",
                                                                            "api_payment"))
                            else world.customer.public_id if route.name.startswith("payments:credit")
                            else world.ticket.public_id if route.name.startswith("api_ticket")
                            else world.subscription_id if route.name.startswith("api_subscription")
                            else world.customer.public_id)
        elif name == "ticket_id":
            values[name] = world.ticket.public_id
        elif name == "tab":
            values[name] = "notes"
        elif name == "token_id":
            values[name] = world.token_id
        elif name == "name":
            values[name] = world.tag
        elif name == "escalation_id":
            values[name] = world.escalation_id
        elif name == "token":
            values[name] = world.card_token
        elif name == "approval_id":
            values[name] = world.approval_id
        else:
            pytest.fail(f"{route}: give the URL parameter {name!r} a real value in _real_kwargs")
    return values


# ---- Hostile values --------------------------------------------------------------------------------------------

FIELD_NAMES = sorted({
    *PARAMETER_NAMES, *ProfileForm.base_fields, *NoteForm.base_fields, *TagForm.base_fields,
    *ActivityFilterForm.base_fields, *ApiTokenForm.base_fields, *AuditFilterForm.base_fields,
    *LoginForm.base_fields, "next", *TicketOpenForm.base_fields, *TicketCommentForm.base_fields,
    *TicketStatusForm.base_fields, *TicketAssignForm.base_fields, *QueueForm.base_fields,
    *EscalateForm.base_fields, *ResolveForm.base_fields, *OwnerForm.base_fields, "back", "cursor",
    *CardLinkSendForm.base_fields, *SandboxCardForm.base_fields, *StripeCardForm.base_fields,
    *ApprovalTabForm.base_fields, *ApprovalQueryForm.base_fields, *DecisionForm.base_fields, "password",
    # the JSON API's fields
    "body", "name", "plan", "when", "reason", "preview", "resume_on", "days", "amount", "template", "subject",
    "public", "status", "note", "comment", "confirm", "queue", "action", "filter", "customers", "params",
})
AWKWARD = [
    "\x00", "\x01", "\x08", "\x1b", "\x7f", "\r\n", "\t", "\u202e", "\u200f", "\u200b", "\ufeff", "\uffff",
    "🦄", "👩‍👩‍👧", "ｖｉｐ", "e\u0301", "İ", "ß", "ǅ", "%00", "%", "_", "*", "'", '"', "\\", "<script>", "../",
    "cus_", "inv_", "sub_", "pay_", "@", ",", ";", "&", "=", "+", "#", "?", "/",
]
FAR_DATES = ["9999-12-31", "0001-01-01", "1899-12-31", "2200-01-01", "2024-02-30", "2024-13-01", "0000-00-00",
             "99999-01-01", "-1-01-01", "2024-01-01T00:00:00+99:00", "1e10", "31/12/9999"]
NUMBERS = ["0", "-1", "2147483648", "9223372036854775808", "-9223372036854775809", "1e999", "-1e999", "NaN",
           "Infinity", "0x10", "1_000", "9" * 5000, "1.5", "-0"]
HUGE = st.builds(lambda piece, times: piece * times,
                 st.sampled_from(["x", "é", "🦄", "\x00", "cus_", " ", "a,", "\n"]),
                 st.sampled_from([41, 81, 121, 151, 201, 256, 1001, 5000, 100_000]))


def _texts(world: World):
    """Strings a query or form may carry (no surrogates: those only fit in JSON, below)."""
    valid = [world.customer.public_id, world.invoice.public_id, world.tag, "beta tester", "active", "churned",
             "pro-monthly", "none", "web", "US", "GB", "at_risk", "mrr", "-mrr", "since", "name", "2024-01-01",
             "25", "100", "notes", "payment", "true", "now", "renewal", "admin", world.customer.email,
             "welcome", "newsletter", "ticket-reply", world.ticket.public_id, "mine", "unassigned", "escalated",
             "pending", "open", "solved", "closed", "urgent", "high", "low", "1", "0", "4242 4242 4242 4242",
             "4242424242424241", "4000000000000002", "12/34", "01/20", "123", "seti_123", "a" * 32,
             "decided", "approved",
             "rejected", "expired", "failed", world.approval_id]
    return st.one_of(
        st.text(max_size=40),
        st.lists(st.one_of(st.sampled_from(AWKWARD), st.text(max_size=4)), max_size=8).map("".join),
        st.sampled_from(FAR_DATES + NUMBERS + valid),
        st.integers().map(str),
        HUGE,
    )


def _json_values(texts):
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.sampled_from([10**30, -(10**30), 2**63, -(2**63) - 1]),
        st.floats(allow_nan=False, allow_infinity=False),
        texts, st.sampled_from(["\ud800", "a\udfffb", "\udc00\ud800"]),  # lone surrogates, sent as \u escapes
    )
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), children, max_size=3),
        max_leaves=8,
    )


RAW_BODIES = [
    b"[" * 100_000 + b"]" * 100_000, b'{"body": ' + b"[" * 40 + b"]" * 40 + b"}", b"{" * 5000,
    b"{", b"", b"null", b"[]", b'"text"', b"12", b"\xff\xfe\x00", b"\x00", b'{"body": NaN}', b'{"amount": 1e999}',
    b'{"amount": ' + b"9" * 5000 + b"}", b'{"body": "\\u0000"}', b'{"name": "\\ud800"}', b'{"body": "a", "body": 1}',
    b'{"body": "' + b"x" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + b'"}',  # over the upload limit
]
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
                 "application/json; charset=latin-1"]
HTMX_TARGETS = ["directory-results", "profile-tabs", "notes-more", "payments-more", "activity-more", "tickets-results",
                "tickets-more", "ticket-body", "subscriptions-more", "emails-more", "profile-header", "tags",
                "email-send-body", "email-preview", "escalations-more", "escalate-body", "card-link-body",
                "card-link-form", "approvals-more", "money-body", "refund-verdict", ""]


@dataclass
class FuzzRequest:
    path: str
    body: bytes
    content_type: str
    headers: dict


def _requests(route: Route, method: str, world: World):
    texts = _texts(world)
    query_values = st.one_of(texts, st.lists(texts, min_size=1, max_size=3))
    fields = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), query_values, max_size=6)
    real = _real_kwargs(route, world)
    base = reverse(route.name, kwargs=real) if real else reverse(route.name)

    @st.composite
    def build(draw) -> FuzzRequest:
        path = base
        for name, value in real.items():  # each URL segment is sometimes hostile too
            if draw(st.booleans()) and draw(st.booleans()):
                hostile = draw(texts)[:300]
                path = re.sub(rf"/{re.escape(quote(str(value)))}(?=/|$)", lambda m: "/" + quote(hostile, safe=""),
                              path, count=1)
        query = draw(fields)
        if query:
            path = f"{path}?{urlencode(query, doseq=True)}"
        kind = draw(st.sampled_from(["none", "form", "multipart", "json", "raw"]) if method != "GET"
                    else st.sampled_from(["none", "none", "raw"]))
        content_type = "application/octet-stream"
        body = b""
        if kind == "form":
            body, content_type = urlencode(draw(fields), doseq=True).encode(), "application/x-www-form-urlencoded"
        elif kind == "multipart":
            body, content_type = encode_multipart(BOUNDARY, draw(fields)), MULTIPART_CONTENT
        elif kind == "json":
            body = json.dumps(draw(st.one_of(st.dictionaries(st.sampled_from(FIELD_NAMES), _json_values(texts),
                                                             max_size=5), _json_values(texts)))).encode()
            content_type = draw(st.sampled_from(CONTENT_TYPES))
        elif kind == "raw":
            body = draw(st.sampled_from(RAW_BODIES) | st.binary(max_size=40))
            content_type = draw(st.sampled_from(CONTENT_TYPES))
        headers = {}
        if draw(st.booleans()):
            headers["HX-Request"] = "true"
            headers["HX-Target"] = draw(st.sampled_from(HTMX_TARGETS))
            if draw(st.integers(0, 9)) == 0:
                headers["HX-History-Restore-Request"] = "true"
        if method != "GET" and draw(st.booleans()):
            headers["Idempotency-Key"] = draw(st.text(st.characters(min_codepoint=33, max_codepoint=126),
                                                      min_size=1, max_size=130))
        return FuzzRequest(path, body, content_type, headers)

    return build()


# ---- The check -------------------------------------------------------------------------------------------------

def _send(client: Client, method: str, request: FuzzRequest, headers: dict):
    with transaction.atomic():
        response = client.generic(method, request.path, data=request.body, content_type=request.content_type,
                                  headers={**request.headers, **headers})
        transaction.set_rollback(True)
    return response


def _assert_answered_well(response, method: str, request: FuzzRequest, who: str):
    where = f"{who} {method} {request.path[:300]!r} ({request.content_type}, {len(request.body)} bytes)"
    assert response.status_code < 500, f"{where} → {response.status_code}"
    if request.path.startswith("/api/") and response.status_code >= 400:
        assert response["Content-Type"] == "application/json", f"{where} → {response.status_code} not JSON"
        error = json.loads(response.content)["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), where


def _accepted_methods(route: Route, world: World, send_as_admin) -> list[str]:
    """The methods the admin is not answered 405 for (plain, empty requests)."""
    path = reverse(route.name, kwargs=_real_kwargs(route, world))
    return [method for method in METHODS
            if send_as_admin(method, FuzzRequest(path, b"", "application/json", {})).status_code != 405]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Fuzzed sign-ins check a password hundreds of times: a fast hasher keeps that from dominating the run."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_no_input_gets_a_server_error(route, admin_user, approval_kinds):
    """admin_user: the Admin role holds every capability, so every route runs its view, not just a 403."""
    world = _build_world(admin_user)
    admin = Client(raise_request_exception=False)
    admin.force_login(world.admin)
    session = admin.cookies[django_settings.SESSION_COOKIE_NAME].value
    anonymous = Client(raise_request_exception=False)
    # The API is signed in with a token (a session write would stop at the CSRF check); pages with the session.
    as_admin = {"Authorization": f"Bearer {world.api_secret}"} if route.name.startswith("api_") else {}

    def send_as_admin(method: str, request: FuzzRequest):
        admin.cookies[django_settings.SESSION_COOKIE_NAME] = session  # a fuzzed sign-out ends only its request
        return _send(admin, method, request, as_admin)

    def send_anonymously(method: str, request: FuzzRequest):
        anonymous.cookies.clear()
        return _send(anonymous, method, request, {})

    methods = _accepted_methods(route, world, send_as_admin)
    assert methods, f"{route} accepts no method"
    for method in methods:
        @FUZZ_SETTINGS
        @given(request=_requests(route, method, world))
        def check(request):
            _assert_answered_well(send_as_admin(method, request), method, request, "admin")
            _assert_answered_well(send_anonymously(method, request), method, request, "anonymous")

        check()
