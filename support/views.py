"""Support pages: sending an email from the customer's profile (the dialog, its preview, and the send), and the
tickets (below).

Emails:

The dialog opens from the profile header (htmx loads it into the header's <dialog>); without JavaScript the same
form is a page of its own. The preview is rendered for this customer by the same code that renders the email.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from customers.access import access_customer, access_customer_profile
from customers.models import ActivityEvent, Customer
from customers.views.profile import TEMPLATE as PROFILE_TEMPLATE, customer_url, header_context
from portal.access import require_capability
from portal.errors import DomainError
from portal.cursors import InvalidCursor
from portal.roles import Cap, has_capability
from portal.write_views import apply, write_view
from support import rules, services
from support.access import access_ticket
from support.forms import (
    PRIORITY_CHOICES, EmailSendForm, event_id_from_reference, QueueForm, TicketAssignForm, TicketCommentForm, TicketOpenForm,
    TicketPriorityForm, TicketStatusForm,
)
from support.models import Ticket
from support.selectors import (
    DEFAULT_QUEUE, QUEUES, assignable_agents, email_template_choices, queue_counts, queue_page, ticket_conversation,
)

TEMPLATE = "support/email_send.html"


def _with_plan():
    return Customer.objects.select_related("plan")  # the plan name is an email variable


def _preview(customer, agent, choices, code: str | None) -> dict:
    """The rendered email for the preview, or the sentence saying why there is none."""
    choice = next((choice for choice in choices if choice.code == code), None) if code else None
    if choice is None:
        error = "This template cannot be sent to this customer; the list says why." if code else None
        return {"preview": None, "preview_error": error}
    if choice.refusal:
        return {"preview": None, "preview_error": f"“{choice.name}” cannot be sent: {choice.refusal}"}
    try:
        rendered = services.email_render(template=choice.template, customer=customer, agent=agent)
    except DomainError as exc:
        return {"preview": None, "preview_error": exc.message}
    return {"preview": rendered, "preview_error": None}


def _dialog_context(request, customer, form: EmailSendForm | None = None) -> dict:
    choices = email_template_choices(customer)
    form = form or EmailSendForm(choices=choices)
    sendable = [choice.code for choice in choices if not choice.refusal]
    selected = form["template"].value() if form.is_bound else request.GET.get("template") or next(iter(sendable), "")
    return {"customer": customer, "choices": choices, "email_form": form, "selected": selected,
            **_preview(customer, request.user, choices, selected if selected in sendable else None)}


@require_GET
@require_capability(Cap.CONTACT_CUSTOMERS)
def email_new(request, public_id: str):
    """The send dialog's body (htmx) or the page with the same form (no JavaScript)."""
    customer = access_customer(request, public_id, queryset=_with_plan())
    template = f"{TEMPLATE}#dialog_body" if request.htmx else TEMPLATE
    return render(request, template, _dialog_context(request, customer))


@require_GET
@require_capability(Cap.CONTACT_CUSTOMERS)
def email_preview(request, public_id: str):
    """The preview of one template for this customer (swapped in when the agent picks another template)."""
    customer = access_customer(request, public_id, queryset=_with_plan())
    code = request.GET.get("template", "")
    context = {"customer": customer, **_preview(customer, request.user, email_template_choices(customer), code)}
    status = 422 if context["preview_error"] else 200
    return render(request, f"{TEMPLATE}#preview", context, status=status)


@require_POST
@require_capability(Cap.CONTACT_CUSTOMERS)
def email_send(request, public_id: str):
    customer = access_customer(request, public_id)
    choices = email_template_choices(customer)

    def invalid(outcome):  # without htmx the form is a page of its own; with htmx the dialog's body
        template = f"{TEMPLATE}#dialog_body" if request.htmx else TEMPLATE
        return render(request, template, _dialog_context(request, customer, outcome.form), status=422)

    def fragment(outcome):
        # The dialog lives in the header: a fresh header closes it; "emails-changed" (sent below) reloads an open
        # Emails or Activity tab, which now lists the queued email.
        return f"{PROFILE_TEMPLATE}#header", header_context(request, access_customer_profile(request, public_id))

    response = write_view(
        request, form=EmailSendForm(request.POST, choices=choices), error_fields="template",
        service=lambda data: services.email_send(customer=customer, template_code=data["template"],
                                                 actor=request.user),
        message=lambda message: f"Email queued to {message.to_address}.",
        redirect_to=customer_url(customer, "emails"), fragment=fragment, swap_into="#profile-header",
        invalid_page=invalid)
    if request.htmx and response.status_code == 200:
        trigger_client_event(response, "emails-changed")
    return response


# ---- Tickets ---------------------------------------------------------------------------------------------------
#
# The Tickets page (queues with live counts, htmx queue switching, keyset paging), a ticket's page (the customer's
# header, the conversation, and the controls to comment, assign, and change priority or status), and opening a
# ticket from a profile, a failed payment or a timeline event. Every write is support/services.py through
# write_view; htmx swaps the ticket's body (#ticket-body) and pops a toast.

TICKETS_TEMPLATE = "support/tickets.html"
TICKET_TEMPLATE = "support/ticket.html"
TICKET_NEW_TEMPLATE = "support/ticket_new.html"


def ticket_url(ticket) -> str:
    return reverse("support:ticket", kwargs={"ticket_id": ticket.public_id})


@require_GET
@require_capability(Cap.MANAGE_TICKETS)
def tickets(request):
    """The queues. htmx: the results (queue tabs with fresh counts + rows) for a queue switch, only more rows for
    "older tickets"; the full page otherwise. A cursor this page did not make restarts the queue from the top."""
    form = QueueForm(request.GET)
    form.is_valid()
    queue = form.cleaned_data.get("queue") or DEFAULT_QUEUE
    notice = ""
    try:
        page = queue_page(request.user, queue, cursor=form.cleaned_data.get("cursor") or None)
    except InvalidCursor:
        page, notice = queue_page(request.user, queue), "That page link was not valid; showing the queue from the top."
    target = request.htmx.target if request.htmx and not request.htmx.history_restore_request else None
    template = TICKETS_TEMPLATE
    context = {"page": page, "queue": queue, "queues": QUEUES, "notice": notice}
    if target == "tickets-more":
        template = f"{TICKETS_TEMPLATE}#rows"
    else:
        counts = queue_counts(request.user)
        context["queue_tabs"] = [(q, counts[q.code]) for q in QUEUES]
        if target == "tickets-results":
            template = f"{TICKETS_TEMPLATE}#results"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _ticket_context(request, ticket, **forms) -> dict:
    """What the ticket's body shows: conversation, reply clock, the moves the status control offers or explains."""
    can_work = has_capability(request.user, Cap.MANAGE_TICKETS)
    return {
        "ticket": ticket, "customer": ticket.customer, "comments": ticket_conversation(ticket),
        "clock": rules.ReplyClock(ticket.due_at, timezone.now()), "can_work": can_work,
        "read_only": rules.is_read_only(ticket.status),
        "moves": rules.moves_from(ticket.status), "status_labels": dict(Ticket.Status.choices),
        "priority_choices": PRIORITY_CHOICES,
        "agents": assignable_agents() if can_work and not rules.is_read_only(ticket.status) else [],
        "comment_form": forms.get("comment_form") or TicketCommentForm(),
        "status_form": forms.get("status_form"), "priority_form": forms.get("priority_form"),
        "assign_form": forms.get("assign_form"),
    }


@require_GET
@require_capability(Cap.VIEW_CUSTOMERS)
def ticket_page(request, ticket_id: str):
    ticket = access_ticket(request, ticket_id)
    overview = access_customer_profile(request, ticket.customer.public_id)
    ticket.customer = overview.customer  # the header's customer, storefront and plan joined
    return render(request, TICKET_TEMPLATE, {**header_context(request, overview), **_ticket_context(request, ticket)})


def _ticket_write(request, ticket_id: str, *, form, service, message, form_name: str):
    ticket = access_ticket(request, ticket_id)

    def fragment(outcome):
        fresh = access_ticket(request, ticket_id)  # the changed ticket, as its page shows it
        forms = {} if outcome.ok else {form_name: outcome.form}
        return f"{TICKET_TEMPLATE}#body", _ticket_context(request, fresh, **forms)

    return write_view(request, form=form, service=lambda data: service(ticket, data), message=message,
                      redirect_to=ticket_url(ticket), fragment=fragment,
                      error_fields={"invalid_comment": "body"} if form_name == "comment_form" else None)


@require_POST
@require_capability(Cap.MANAGE_TICKETS)
def ticket_comment(request, ticket_id: str):
    return _ticket_write(
        request, ticket_id, form=TicketCommentForm(request.POST), form_name="comment_form",
        service=lambda ticket, data: services.ticket_comment_add(ticket=ticket, body=data["body"],
                                                                 public=data["public"], actor=request.user),
        message=lambda comment: ("Reply sent: the customer gets it by email." if comment.public
                                 else "Internal note added."))


@require_POST
@require_capability(Cap.MANAGE_TICKETS)
def ticket_status(request, ticket_id: str):
    labels = dict(Ticket.Status.choices)
    return _ticket_write(
        request, ticket_id, form=TicketStatusForm(request.POST), form_name="status_form",
        service=lambda ticket, data: services.ticket_status_change(ticket=ticket, status=data["status"],
                                                                   actor=request.user),
        message=lambda ticket: f"Status changed to {labels[ticket.status].lower()}.")


@require_POST
@require_capability(Cap.MANAGE_TICKETS)
def ticket_priority(request, ticket_id: str):
    return _ticket_write(
        request, ticket_id, form=TicketPriorityForm(request.POST), form_name="priority_form",
        service=lambda ticket, data: services.ticket_priority_change(ticket=ticket, priority=data["priority"],
                                                                     actor=request.user),
        message=lambda ticket: f"Priority changed to {ticket.get_priority_display().lower()}.")


@require_POST
@require_capability(Cap.MANAGE_TICKETS)
def ticket_assign(request, ticket_id: str):
    return _ticket_write(
        request, ticket_id, form=TicketAssignForm(request.POST), form_name="assign_form",
        service=lambda ticket, data: services.ticket_assign(ticket=ticket, assignee=data["assignee"],
                                                            actor=request.user),
        message=lambda ticket: (f"Assigned to {ticket.assignee.get_username()}." if ticket.assignee
                                else "Unassigned."))


def _ticket_source(customer, data: dict) -> dict:
    """The payment and/or timeline event a new ticket is opened from, looked up within this customer only."""
    from payments.models import Payment

    source = {"payment": None, "activity_event": None}
    if data.get("payment"):
        source["payment"] = Payment.objects.filter(customer=customer, public_id=data["payment"]).first()
        if source["payment"] is None:
            raise DomainError("This customer has no payment with that id.", code="invalid_payment")
    if data.get("event"):
        source["activity_event"] = ActivityEvent.objects.filter(customer=customer, pk=data["event"]).first()
        if source["activity_event"] is None:
            raise DomainError("This customer has no such timeline event.", code="invalid_event")
    return source


def _suggested_subject(source: dict) -> str:
    payment, event = source["payment"], source["activity_event"]
    if payment is not None:
        subject = f"Payment {payment.public_id} failed" if payment.status == "failed" else f"Payment {payment.public_id}"
        return subject + (f": {payment.failure_message}" if payment.failure_message else "")
    if event is not None:
        return event.summary[:200]
    return ""


@require_http_methods(["GET", "POST"])
@require_capability(Cap.MANAGE_TICKETS)
def ticket_new(request, public_id: str):
    """The open-a-ticket form (GET, with `payment=pay_…` or `event=<reference>` to open it from one of them) and
    its submission, which goes to the new ticket's page."""
    customer = access_customer(request, public_id)
    if request.method == "GET":
        payment, reference = request.GET.get("payment", "")[:40], request.GET.get("event", "")[:200]
        source, problem = {"payment": None, "activity_event": None}, ""
        try:
            event_id = event_id_from_reference(reference) if reference else None
            if reference and event_id is None:
                raise DomainError(TicketOpenForm.INVALID_EVENT, code="invalid_event")
            source = _ticket_source(customer, {"payment": payment, "event": event_id})
        except DomainError as exc:
            problem = exc.message
        form = TicketOpenForm(initial={"payment": payment if source["payment"] else "",
                                       "event": reference if source["activity_event"] else "",
                                       "subject": _suggested_subject(source), "priority": "normal"})
        return render(request, TICKET_NEW_TEMPLATE, {"customer": customer, "form": form, "source": source,
                                                     "problem": problem})

    form = TicketOpenForm(request.POST)
    opened = []

    def open_ticket(data):
        source = _ticket_source(customer, data)
        ticket = services.ticket_open(customer=customer, subject=data["subject"], description=data["description"],
                                      priority=data["priority"], actor=request.user, **source)
        opened.append(ticket)
        return ticket

    outcome = apply(form, open_ticket, {"invalid_subject": "subject", "invalid_description": "description"})
    if not outcome.ok:
        source = {"payment": None, "activity_event": None}
        if "payment" in form.cleaned_data and "event" in form.cleaned_data:
            try:
                source = _ticket_source(customer, form.cleaned_data)
            except DomainError:
                pass
        return render(request, TICKET_NEW_TEMPLATE, {"customer": customer, "form": form, "source": source,
                                                     "problem": ""}, status=422)
    messages.success(request, f"Ticket {opened[0].public_id} opened.")
    if request.htmx:
        return HttpResponseClientRedirect(ticket_url(opened[0]))
    return redirect(ticket_url(opened[0]))
