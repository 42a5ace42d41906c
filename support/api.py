"""JSON API for a customer's emails (`GET/POST /api/v1/customers/<cus>/emails`) and the tickets (below).

Same access helper, selector and service as the profile's send dialog and Emails tab.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import JsonResponse
from django.utils import timezone

from customers.access import access_customer
from customers.api.profile import _query, customer_page_json
from customers.forms import PageForm
from portal.access_log import serializes_customer_data
from payments.models import Payment
from portal.api import api_view, iso, json_body, money
from portal.errors import ApiError
from portal.roles import Cap
from support import rules, services
from support.access import access_ticket
from support.forms import QueueForm
from support.selectors import (
    DEFAULT_QUEUE, QUEUE_CODES, customer_emails, customer_tickets, queue_counts, queue_page, ticket_conversation,
)


@serializes_customer_data
def email_json(message) -> dict:
    return {
        "id": message.public_id,
        "status": message.status,
        "template": message.template.code,
        "to": message.to_address,
        "subject": message.subject,
        "attempts": message.attempts,
        "error": message.error or None,
        "created_at": iso(message.created_at),
        "sent_at": iso(message.sent_at),
    }


@api_view(methods=("GET", "POST"), capability={"GET": Cap.VIEW_CUSTOMERS, "POST": Cap.CONTACT_CUSTOMERS})
def customer_emails_list(request, public_id: str):
    """GET: newest first, paged (`cursor`), like the profile's Emails tab. POST {"template": "<code>"}: queue that
    email (201); needs CONTACT_CUSTOMERS."""
    if request.method == "POST":
        customer = access_customer(request, public_id)
        body = json_body(request)
        unknown = sorted(set(body) - {"template"})
        if unknown:
            raise ApiError(400, "unknown_field", f"Unknown fields: {', '.join(unknown)}. Send {{\"template\": "
                                                 f"\"<code>\"}}.")
        code = body.get("template")
        if not isinstance(code, str) or not code:
            raise ApiError(400, "invalid", "Send \"template\" as the code of an email template, e.g. \"welcome\".")
        message = services.email_send(customer=customer, template_code=code, actor=request.user)
        return JsonResponse(email_json(message), status=201)
    customer = access_customer(request, public_id)
    page = customer_emails(customer, after=_query(PageForm, request)["cursor"])
    return JsonResponse(customer_page_json(customer, page, email_json))


# ---- Tickets ---------------------------------------------------------------------------------------------------
#
# `POST /api/v1/customers/<cus>/tickets` (and GET: the customer's tickets), `GET /api/v1/tickets?queue=…`,
# `GET /api/v1/tickets/<tkt>`, and `POST /api/v1/tickets/<tkt>/comments|status|priority|assign`. The same load
# helper, selectors and services as the pages; bad input is a 4xx with a sentence and changes nothing.

def _clock_json(ticket, now) -> dict:
    clock = rules.ReplyClock(ticket.due_at, now)
    state = "stopped" if not clock.running else ("overdue" if clock.overdue else "due")
    return {"state": state, "due_at": iso(ticket.due_at), "label": clock.label or None}


@serializes_customer_data
def ticket_summary_json(ticket, now=None) -> dict:
    return {
        "id": ticket.public_id,
        "customer": ticket.customer.public_id,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": ticket.assignee.get_username() if ticket.assignee_id else None,
        "created_at": iso(ticket.created_at),
        "reply": _clock_json(ticket, now or timezone.now()),
    }


def comment_json(comment) -> dict:
    return {
        "id": comment.pk,
        "kind": comment.kind,  # customer, reply (public, emailed) or note (internal)
        "public": comment.public or comment.from_customer,
        "author": comment.author.get_username() if comment.author_id else None,
        "body": comment.body,
        "created_at": iso(comment.created_at),
        "email": comment.email.public_id if comment.email_id else None,
    }


@serializes_customer_data
def ticket_json(ticket, comments) -> dict:
    payment = ticket.payment
    return {
        **ticket_summary_json(ticket),
        "description": ticket.description,
        "first_response_at": iso(ticket.first_response_at),
        "payment": {"id": payment.public_id, "amount": money(payment.amount, payment.currency),
                    "status": payment.status, "failure_code": payment.failure_code or None,
                    "failure_message": payment.failure_message or None} if payment else None,
        "event": {"summary": ticket.activity_event.summary, "created_at": iso(ticket.activity_event.created_at)}
        if ticket.activity_event_id else None,
        "comments": [comment_json(comment) for comment in comments],
    }


def _body(request, *, required: dict[str, type | tuple], optional: dict[str, tuple] | None = None) -> dict:
    """The JSON body with exactly these fields and types (400 with a sentence otherwise)."""
    body = json_body(request)
    optional = optional or {}
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown fields: {', '.join(unknown)}. Send "
                                             f"{', '.join(f'“{name}”' for name in [*required, *optional])}.")
    for name, kind in required.items():
        if name not in body:
            raise ApiError(400, "invalid", f"Send “{name}”.")
    for name, value in body.items():
        kinds = required[name] if name in required else optional[name]
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            names = " or ".join("null" if kind is type(None) else {str: "a string", bool: "true or false"}[kind]
                                for kind in kinds)
            raise ApiError(400, "invalid", f"Send “{name}” as {names}.")
    return body


def _ticket_response(request, public_id: str, status: int = 200) -> JsonResponse:
    ticket = access_ticket(request, public_id)
    return JsonResponse(ticket_json(ticket, ticket_conversation(ticket)), status=status)


@api_view(methods=("GET", "POST"), capability={"GET": Cap.VIEW_CUSTOMERS, "POST": Cap.MANAGE_TICKETS})
def customer_tickets_list(request, public_id: str):
    """GET: the customer's tickets, newest first, paged (`cursor`). POST {"subject", "body", "priority"?,
    "payment"?}: open a ticket (201), optionally about one of the customer's payments (its public id)."""
    customer = access_customer(request, public_id)
    if request.method == "POST":
        body = _body(request, required={"subject": str, "body": str},
                     optional={"priority": (str,), "payment": (str, type(None))})
        payment = None
        if body.get("payment"):
            payment = Payment.objects.filter(customer=customer, public_id=body["payment"]).first()
            if payment is None:
                raise ApiError(422, "invalid_payment", "This customer has no payment with that id.")
        ticket = services.ticket_open(customer=customer, subject=body["subject"], description=body["body"],
                                      priority=body.get("priority", "normal"), payment=payment, actor=request.user)
        return _ticket_response(request, ticket.public_id, status=201)
    page = customer_tickets(customer, after=_query(PageForm, request)["cursor"])
    for ticket in page.rows:
        ticket.customer = customer
    return JsonResponse(customer_page_json(customer, page, ticket_summary_json))


@api_view(capability=Cap.MANAGE_TICKETS)
def tickets_list(request):
    """GET ?queue=mine|unassigned|escalated|pending|open (default mine) &cursor=…: overdue first, then by priority,
    oldest first; with the count of every queue."""
    form = QueueForm(request.GET)
    if not form.is_valid():
        raise ApiError(400, "invalid_query", f"Use queue= one of: {', '.join(QUEUE_CODES)}.")
    queue = form.cleaned_data["queue"] or DEFAULT_QUEUE
    page = queue_page(request.user, queue, cursor=form.cleaned_data["cursor"] or None)
    return JsonResponse({"queue": queue, "counts": queue_counts(request.user),
                         "results": [ticket_summary_json(row.ticket, page.now) for row in page.rows],
                         "next_cursor": page.next_cursor})


@api_view(capability=Cap.VIEW_CUSTOMERS)
def ticket_detail(request, public_id: str):
    return _ticket_response(request, public_id)


@api_view(methods=("POST",), capability=Cap.MANAGE_TICKETS)
def ticket_comments(request, public_id: str):
    """POST {"body", "public"}: an internal note (public false) or a reply emailed to the customer (201)."""
    ticket = access_ticket(request, public_id)
    body = _body(request, required={"body": str, "public": bool})
    comment = services.ticket_comment_add(ticket=ticket, body=body["body"], public=body["public"],
                                          actor=request.user)
    return JsonResponse(comment_json(comment), status=201)


@api_view(methods=("POST",), capability=Cap.MANAGE_TICKETS)
def ticket_status(request, public_id: str):
    """POST {"status"}: a move support/rules.py allows (422 with its sentence otherwise)."""
    ticket = access_ticket(request, public_id)
    services.ticket_status_change(ticket=ticket, status=_body(request, required={"status": str})["status"],
                                  actor=request.user)
    return _ticket_response(request, public_id)


@api_view(methods=("POST",), capability=Cap.MANAGE_TICKETS)
def ticket_priority(request, public_id: str):
    ticket = access_ticket(request, public_id)
    services.ticket_priority_change(ticket=ticket, priority=_body(request, required={"priority": str})["priority"],
                                    actor=request.user)
    return _ticket_response(request, public_id)


@api_view(methods=("POST",), capability=Cap.MANAGE_TICKETS)
def ticket_assign(request, public_id: str):
    """POST {"assignee": "<username>"} or {"assignee": null} to unassign."""
    ticket = access_ticket(request, public_id)
    username = _body(request, required={"assignee": (str, type(None))})["assignee"]
    assignee = None
    if username:
        assignee = get_user_model().objects.filter(username=username[:150], is_active=True).first()
        if assignee is None:
            raise ApiError(422, "invalid_assignee", f"There is no active user “{username[:40]}”.")
    services.ticket_assign(ticket=ticket, assignee=assignee, actor=request.user)
    return _ticket_response(request, public_id)
