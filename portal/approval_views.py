"""The Approvals page (`/approvals/`): the managers' queue, and everybody's own requests.

The page needs VIEW_CUSTOMERS (it names customers): everybody who can request something sees "My requests"; the
Pending and Decided tabs and deciding need APPROVE_REQUESTS (managers). Approve and Reject go through the kernel's
write_view (form → service → message → redirect, or the row again for htmx, with a toast). The sidebar's count of
requests waiting is loaded by htmx after the page (`approvals_badge`), so no page pays a query for it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from portal import approvals as services
from portal.access import granted, require_capability
from portal.approval_forms import QUEUE_TABS, TABS, ApprovalTabForm, DecisionForm
from portal.approval_selectors import (
    BADGE_CAP, ApprovalPage, approval_by_public_id, approval_page, approval_rows, waiting_for,
)
from portal.models import Approval
from portal.roles import Cap, has_capability
from portal.write_views import write_view

TEMPLATE = "portal/approvals.html"


def access_approval(request, approval_id: str) -> Approval:
    """The request with this public id (404 if there is none), after the view's capability check."""
    granted(request)
    approval = approval_by_public_id(approval_id)
    if approval is None:
        raise Http404("No approval request has this id.")
    return approval


def _row_context(request, approval: Approval, form=None) -> dict:
    return {"row": approval_rows([approval])[0], "decision_form": form,
            "can_decide": has_capability(request.user, Cap.APPROVE_REQUESTS)}


@require_GET
@require_capability(Cap.VIEW_CUSTOMERS)
def approvals_page(request):
    can_decide = has_capability(request.user, Cap.APPROVE_REQUESTS)
    form = ApprovalTabForm(request.GET, can_decide=can_decide)
    notice = ""
    if not form.is_valid():  # an edited or stale link: the first page of the tab, said so
        notice = " ".join(error for errors in form.errors.values() for error in errors) + " Showing the first page."
        tab = request.GET.get("tab") if request.GET.get("tab") in TABS else ("pending" if can_decide else "mine")
        form = ApprovalTabForm({"tab": tab}, can_decide=can_decide)
        form.is_valid()
    tab = form.cleaned_data["tab"]
    if tab in QUEUE_TABS and not can_decide:
        raise PermissionDenied("Only managers see the approvals queue; your own requests are under My requests.")
    listing = form.cleaned_data["listing"]
    page: ApprovalPage = approval_page(order=listing["order"], statuses=listing["statuses"],
                                       requested_by=request.user if listing["mine"] else None,
                                       after=form.cleaned_data["after"])
    target = request.htmx.target if request.htmx and not request.htmx.history_restore_request else None
    template = f"{TEMPLATE}#rows" if target == "approvals-more" else TEMPLATE
    tabs = [(value, label) for value, label in TABS.items() if can_decide or value not in QUEUE_TABS]
    return render(request, template, {"page": page, "tab": tab, "tabs": tabs, "notice": notice,
                                      "can_decide": can_decide, "decision_form": None})


@require_GET
@require_capability(Cap.APPROVE_REQUESTS)
def approvals_badge(request):
    """The sidebar's count of requests waiting for this manager (not their own), loaded by htmx after the page."""
    count = waiting_for(request.user)
    if not count:
        return HttpResponse('<span class="nav-badge" hidden></span>')
    shown = f"{BADGE_CAP}+" if count > BADGE_CAP else str(count)
    return render(request, f"{TEMPLATE}#badge", {"shown": shown, "count": count})


def _decide(request, approval_id: str, *, approve: bool):
    approval = access_approval(request, approval_id)
    kind = services.kind_for(approval.kind)
    form = DecisionForm(request.POST, user=request.user, ask_password=approve and bool(kind and kind.sudo))

    def service(data):
        decide = services.approval_approve if approve else services.approval_reject
        return decide(approval=approval, actor=request.user, comment=data["comment"])

    def row(outcome):  # the row again, as it is now: decided, failed, expired, or the form with its error
        fresh = approval_by_public_id(approval_id)
        return f"{TEMPLATE}#row", _row_context(request, fresh, None if outcome.ok else outcome.form)

    def message(done: Approval) -> str:
        what = services.describe(done)
        if approve:
            return f"Approved and carried out: {what}. The requester sees it on the timeline."
        return f"Rejected: {what}. The requester sees your comment on the timeline."

    return write_view(request, form=form, service=service, message=message, error_fields={"invalid_comment": "comment"},
                      redirect_to=f"{reverse('portal:approvals')}?tab=pending", fragment=row)


@require_POST
@require_capability(Cap.APPROVE_REQUESTS)
def approval_approve(request, approval_id: str):
    return _decide(request, approval_id, approve=True)


@require_POST
@require_capability(Cap.APPROVE_REQUESTS)
def approval_reject(request, approval_id: str):
    return _decide(request, approval_id, approve=False)
