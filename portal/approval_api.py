"""JSON API for approval requests: list, read, approve, reject.

    GET  /api/v1/approvals?status=pending|approved|rejected|expired|failed&mine=1&cursor=…
    GET  /api/v1/approvals/<apr>
    POST /api/v1/approvals/<apr>/approve {"comment"?}     managers; 409 already_decided / expired / approval_failed
    POST /api/v1/approvals/<apr>/reject {"comment"}       managers; 403 own_request for the requester

Everybody who reads customers may list and read their own requests (`mine=1`); the whole queue and deciding need
APPROVE_REQUESTS. Same services, selectors and rules as the page (portal/approval_views.py).

A kind that asks for the password again on the page (`sudo`) is approved here only with a bearer token (a
credential of its own, created with the password). A browser session is sent to the page's password step instead
(403 password_required): the API takes no password in a body, whose hash the Idempotency-Key table would keep.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse

from portal import approvals as services
from portal.access import granted
from portal.access_log import serializes_customer_data
from portal.api import api_view, iso, json_body, money
from portal.approval_forms import ApprovalQueryForm
from portal.approval_selectors import approval_by_public_id, approval_page
from portal.errors import ApiError
from portal.models import Approval
from portal.roles import Cap, has_capability


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


@serializes_customer_data
def approval_json(approval: Approval) -> dict:
    customer = approval.customer if approval.customer_id else None
    kind = services.kind_for(approval.kind)
    return {
        "id": approval.public_id,
        "kind": approval.kind,
        "kind_label": kind.label if kind else approval.kind,
        "description": services.describe(approval),
        "status": approval.status,
        "customer": {"id": customer.public_id, "name": customer.full_name} if customer else None,
        "amount": money(approval.amount, approval.currency) if approval.amount is not None else None,
        "reason": approval.reason or None,
        "reason_label": services.reason_label(approval.reason, kind) or None,
        "verdict": approval.verdict,
        "note": approval.note or None,
        "payload": approval.payload,
        "requested_by": _username(approval.requested_by),
        "requested_at": iso(approval.requested_at),
        "expires_at": iso(approval.expires_at),
        "decided_by": _username(approval.decided_by),
        "decided_at": iso(approval.decided_at),
        "comment": approval.comment or None,
        "failure_message": approval.failure_message or None,
        "result": approval.result,
        "asks_password": bool(kind and kind.sudo),
    }


def _can_decide(request) -> bool:
    return has_capability(request.user, Cap.APPROVE_REQUESTS)


def _approval(request, approval_id: str) -> Approval:
    """The request (404 if there is none, or if it is another's and the user may not decide it)."""
    granted(request)
    approval = approval_by_public_id(approval_id)
    if approval is None or not (_can_decide(request) or approval.requested_by_id == request.user.pk):
        raise Http404("No approval request has this id.")
    return approval


@api_view(capability=Cap.VIEW_CUSTOMERS)
def approval_list(request):
    form = ApprovalQueryForm(request.GET)
    if not form.is_valid():
        if form.has_error("cursor", code="invalid_cursor"):
            raise ApiError(400, "invalid_cursor", " ".join(form.errors["cursor"]))
        raise ApiError(400, "invalid_query", " ".join(f"{name}: {' '.join(errors)}"
                                                      for name, errors in form.errors.items()))
    listing = form.cleaned_data["listing"]
    if not listing["mine"] and not _can_decide(request):
        raise PermissionDenied("Only managers see every request; add mine=1 for your own.")
    page = approval_page(order=listing["order"], statuses=listing["statuses"],
                         requested_by=request.user if listing["mine"] else None, after=form.cleaned_data["after"])
    return JsonResponse({"results": [approval_json(row.approval) for row in page.rows],
                         "next_cursor": page.next_cursor,
                         "count": {"value": page.count, "exact": not page.count_capped}})


@api_view(capability=Cap.VIEW_CUSTOMERS)
def approval_detail(request, approval_id: str):
    return JsonResponse(approval_json(_approval(request, approval_id)))


def _comment(request) -> str:
    body = json_body(request)
    unknown = sorted(set(body) - {"comment"})
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown fields: {', '.join(unknown)}. Send only \"comment\".")
    comment = body.get("comment")
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise ApiError(400, "invalid", 'Send "comment" as a string.')
    return comment


def _fresh(approval: Approval) -> dict:
    return approval_json(approval_by_public_id(approval.public_id))


@api_view(methods=("POST",), capability=Cap.APPROVE_REQUESTS)
def approval_approve(request, approval_id: str):
    approval = _approval(request, approval_id)
    comment = _comment(request)
    kind = services.kind_for(approval.kind)
    if kind is not None and kind.sudo and not request.token_authenticated:
        raise ApiError(403, "password_required", "Approving this request asks for your password again: approve it "
                                                 "on the Approvals page, or through the API with an API token.")
    done = services.approval_approve(approval=approval, actor=request.user, comment=comment)
    return JsonResponse(_fresh(done))


@api_view(methods=("POST",), capability=Cap.APPROVE_REQUESTS)
def approval_reject(request, approval_id: str):
    approval = _approval(request, approval_id)
    comment = _comment(request)
    done = services.approval_reject(approval=approval, actor=request.user, comment=comment)
    return JsonResponse(_fresh(done))
