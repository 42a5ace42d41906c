"""Escalation pages: the managers' queue (`/escalations/`), resolving from it, and escalating from a profile.

Each view declares its one capability: the queue and resolving need RESOLVE_ESCALATIONS (managers; agents get
403), escalating needs MANAGE_TICKETS. Writes go through the kernel's write_view (form → service → message →
redirect, or the htmx fragment).
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.access import access_customer, access_customer_profile
from customers.views.profile import TEMPLATE as PROFILE_TEMPLATE
from customers.views.profile import customer_url, header_context
from portal.access import granted, require_capability
from portal.roles import Cap
from portal.write_views import write_view
from support import escalations as services
from support.escalation_forms import EscalateForm, QueueForm, ResolveForm
from support.escalation_selectors import escalation_by_public_id, escalation_panels, escalation_queue
from support.models import Escalation

QUEUE_TEMPLATE = "support/escalations.html"
ESCALATE_TEMPLATE = "support/escalate.html"


def access_escalation(request, escalation_id: str) -> Escalation:
    """The escalation with this public id (404 if there is none), after the view's capability check."""
    granted(request)
    escalation = escalation_by_public_id(escalation_id)
    if escalation is None:
        raise Http404("No escalation has this id.")
    return escalation


@require_GET
@require_capability(Cap.RESOLVE_ESCALATIONS)
def escalation_queue_page(request):
    form = QueueForm(request.GET)
    notice = ""
    if not form.is_valid():  # a stale or edited page link: the first page, said so
        notice = " ".join(error for errors in form.errors.values() for error in errors) + " Showing the first page."
        status = request.GET.get("status") if request.GET.get("status") in Escalation.Status.values else "open"
        query = {"status": status, "cursor": None}
    else:
        query = form.cleaned_data
    queue = escalation_queue(status=query["status"], after=query["cursor"])
    target = request.htmx.target if request.htmx and not request.htmx.history_restore_request else None
    template = f"{QUEUE_TEMPLATE}#panels" if target == "escalations-more" else QUEUE_TEMPLATE
    return render(request, template, {"queue": queue, "notice": notice, "resolve_form": ResolveForm(),
                                      "statuses": Escalation.Status.choices})


@require_POST
@require_capability(Cap.RESOLVE_ESCALATIONS)
def escalation_resolve(request, escalation_id: str):
    escalation = access_escalation(request, escalation_id)

    def panel(outcome):  # the panel again: resolved, with its note; or the form with its error
        fresh = escalation_by_public_id(escalation_id)
        return f"{QUEUE_TEMPLATE}#panel", {"panel": escalation_panels([fresh])[0],
                                            "resolve_form": ResolveForm() if outcome.ok else outcome.form}

    def header(outcome):  # resolved from the profile header: the header again, without the escalation bar
        return f"{PROFILE_TEMPLATE}#header", header_context(
            request, access_customer_profile(request, escalation.customer.public_id),
            resolve_form=None if outcome.ok else outcome.form)

    from_profile = request.POST.get("back") == "profile"
    return write_view(
        request, form=ResolveForm(request.POST), error_fields="note",
        service=lambda data: services.escalation_resolve(escalation=escalation, note=data["note"], actor=request.user),
        message=lambda done: f"Escalation {done.public_id} resolved; the customer's timeline shows your note.",
        redirect_to=customer_url(escalation.customer) if from_profile else reverse("escalations:queue"),
        fragment=header if from_profile else panel,
        swap_into="#profile-header" if from_profile else f"#escalation-{escalation_id}")


@require_http_methods(["GET", "POST"])
@require_capability(Cap.MANAGE_TICKETS)
def customer_escalate(request, public_id: str):
    """GET: the escalate form (loaded into the header's dialog, or a page of its own). POST: escalate."""
    customer = access_customer(request, public_id)
    template = f"{ESCALATE_TEMPLATE}#escalate_form" if request.htmx else ESCALATE_TEMPLATE
    if request.method == "GET":
        return render(request, template, {"customer": customer, "escalate_form": EscalateForm(customer=customer)})

    def form_again(outcome):
        return render(request, template, {"customer": customer, "escalate_form": outcome.form}, status=422)

    return write_view(
        request, form=EscalateForm(request.POST, customer=customer),
        error_fields={"already_escalated": None, "ticket_closed": "ticket", "invalid_ticket": "ticket",
                      "invalid_note": "note", "invalid_reason": "reason"},
        service=lambda data: services.escalation_raise(customer=customer, reason=data["reason"], note=data["note"],
                                                       ticket=data["ticket"], actor=request.user),
        message="Escalated: the managers see it in their Escalations queue.",
        redirect_to=customer_url(customer), invalid_page=form_again,
        fragment=lambda outcome: (f"{PROFILE_TEMPLATE}#header",
                                  header_context(request, access_customer_profile(request, public_id))),
        swap_into="#profile-header")
