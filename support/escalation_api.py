"""JSON API for escalations: raise one on a customer (or their ticket), list the queue, resolve (managers).

    POST /api/v1/customers/<cus>/escalations {"reason", "note"?, "ticket"?}   201; 409 already_escalated
    GET  /api/v1/escalations?status=open|resolved&cursor=…                   managers
    POST /api/v1/escalations/<esc>/resolve {"note"}                           managers; 409 already_resolved

Same services, selectors and capabilities as the pages (support/escalation_views.py).
"""

from __future__ import annotations

from django.http import Http404, JsonResponse

from customers.access import access_customer
from portal.access import granted
from portal.access_log import serializes_customer_data
from portal.api import api_view, iso, json_body, money
from portal.errors import ApiError
from portal.roles import Cap
from support import escalations as services
from support.escalation_forms import QueueForm
from support.escalation_selectors import EscalationPanel, escalation_by_public_id, escalation_panels, escalation_queue
from support.models import Escalation, Ticket


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


@serializes_customer_data
def escalation_json(escalation: Escalation) -> dict:
    customer = escalation.customer
    return {
        "id": escalation.public_id,
        "status": escalation.status,
        "reason": escalation.reason,
        "reason_label": escalation.get_reason_display(),
        "note": escalation.note or None,
        "customer": {"id": customer.public_id, "name": customer.full_name, "escalated_at": iso(customer.escalated_at)},
        "ticket": ({"id": escalation.ticket.public_id, "subject": escalation.ticket.subject,
                    "status": escalation.ticket.status} if escalation.ticket_id else None),
        "raised_by": _username(escalation.raised_by),
        "raised_at": iso(escalation.raised_at),
        "resolved_by": _username(escalation.resolved_by),
        "resolved_at": iso(escalation.resolved_at),
        "resolution_note": escalation.resolution_note or None,
    }


@serializes_customer_data
def panel_json(panel: EscalationPanel) -> dict:
    return {
        **escalation_json(panel.escalation),
        "recent_payments": [{"id": p.public_id, "created_at": iso(p.created_at), "amount": money(p.amount, p.currency),
                             "status": p.status} for p in panel.payments],
        "recent_tickets": [{"id": t.public_id, "created_at": iso(t.created_at), "subject": t.subject,
                            "status": t.status} for t in panel.tickets],
    }


def _text(body: dict, name: str, *, required: bool) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, "invalid", f"Send \"{name}\" as a string.")
    return value


def _fresh(escalation: Escalation) -> Escalation:
    return escalation_by_public_id(escalation.public_id)


@api_view(methods=("POST",), capability=Cap.MANAGE_TICKETS)
def customer_escalation_create(request, public_id: str):
    customer = access_customer(request, public_id)
    body = json_body(request)
    unknown = sorted(set(body) - {"reason", "note", "ticket"})
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown fields: {', '.join(unknown)}. Send reason, note and ticket.")
    reason = _text(body, "reason", required=True)
    if reason not in Escalation.Reason.values:
        raise ApiError(400, "invalid_reason", f"\"reason\" is one of: {', '.join(Escalation.Reason.values)}.")
    ticket = None
    if (ticket_id := _text(body, "ticket", required=False)):
        ticket = Ticket.objects.filter(customer=customer, public_id=ticket_id).first()
        if ticket is None:
            raise ApiError(400, "invalid_ticket", "This customer has no ticket with that id.")
    escalation = services.escalation_raise(customer=customer, reason=reason, note=_text(body, "note", required=False),
                                           ticket=ticket, actor=request.user)
    return JsonResponse(escalation_json(_fresh(escalation)), status=201)


@api_view(capability=Cap.RESOLVE_ESCALATIONS)
def escalation_list(request):
    form = QueueForm(request.GET)
    if not form.is_valid():
        if form.has_error("cursor", code="invalid_cursor"):
            raise ApiError(400, "invalid_cursor", " ".join(form.errors["cursor"]))
        raise ApiError(400, "invalid_query", " ".join(f"{name}: {' '.join(errors)}"
                                                      for name, errors in form.errors.items()))
    queue = escalation_queue(status=form.cleaned_data["status"], after=form.cleaned_data["cursor"])
    return JsonResponse({"results": [panel_json(panel) for panel in queue.panels], "next_cursor": queue.next_cursor,
                         "count": {"value": queue.count, "exact": not queue.count_capped}})


@api_view(methods=("POST",), capability=Cap.RESOLVE_ESCALATIONS)
def escalation_resolve(request, escalation_id: str):
    granted(request)
    escalation = escalation_by_public_id(escalation_id)
    if escalation is None:
        raise Http404("No escalation has this id.")
    note = _text(json_body(request), "note", required=True)
    escalation = services.escalation_resolve(escalation=escalation, note=note, actor=request.user)
    return JsonResponse(panel_json(escalation_panels([_fresh(escalation)])[0]))
