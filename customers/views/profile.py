"""The customer profile: a header that stays put, four tabs swapped in with htmx, and the notes / tags / contact
details an agent can change from it.

Every URL also renders as a full page (deep links, reload, no JavaScript); htmx requests get only the part they
swap, picked from the one template's partials.
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers import services
from customers.access import access_customer, access_customer_profile
from customers.forms import ActivityFilterForm, NoteForm, OwnerForm, PageForm, ProfileForm, TagForm
from customers.models import ActivityEvent
from customers.selectors.directory import DirectoryLookups
from customers.selectors.profile import (
    DEFAULT_TAB, TABS, customer_activity, customer_notes, customer_payments, customer_subscriptions,
    customer_tag_names, tag_suggestions,
)
from payments import card_links
from payments.selectors import payment_row_actions
from portal.access import require_capability
from portal.roles import Cap, has_capability
from portal.write_views import write_view
from subscriptions.selectors import subscription_tab_actions
from support.forms import event_reference
from support.selectors import activity_tickets, customer_emails, customer_tickets
from support.models import Escalation

TEMPLATE = "customers/profile.html"
EDIT_TEMPLATE = "customers/profile/edit.html"


def invoice_base_url() -> str:
    """`/invoices/`: reversed once per page, not once per payment row (reverse() is slow enough to show)."""
    return reverse("payments:invoice", kwargs={"public_id": "-"}).removesuffix("-/")


def customer_url(customer, tab: str | None = None) -> str:
    if tab is None:
        return reverse("customers:profile", kwargs={"public_id": customer.public_id})
    return reverse("customers:profile_tab", kwargs={"public_id": customer.public_id, "tab": tab})


# ---- What each tab shows ---------------------------------------------------------------------------------------

def _query(form_class, request):
    """GET parameters of a tab. Invalid values are dropped (the tab starts from the newest entries)."""
    form = form_class(request.GET)
    form.is_valid()
    return form.cleaned_data


def _subscriptions_tab(request, customer) -> dict:
    subscriptions = customer_subscriptions(customer)
    context = {"subscriptions": subscriptions}
    if (subscriptions and customer.status != customer.Status.ERASED
            and has_capability(request.user, Cap.MANAGE_SUBSCRIPTIONS)):
        context.update(subscription_tab_actions(subscriptions[0], request.user))
    return context


def _payments_tab(request, customer) -> dict:
    page = customer_payments(customer, after=_query(PageForm, request).get("cursor"))
    payment_row_actions(customer, page.rows, request.user)
    return {"page": page, "invoice_base_url": invoice_base_url()}


def _activity_tab(request, customer) -> dict:
    query = _query(ActivityFilterForm, request)
    kind = query.get("kind", "")
    page = customer_activity(customer, kind=kind, after=query.get("cursor"))
    # Ticket events link to their ticket (and show its subject: the timeline itself never copies it); every other
    # event offers "Open ticket" from it, through a signed reference (events have no public id).
    tickets = activity_tickets(page.rows)
    for event in page.rows:
        event.ticket = tickets.get(event.payload.get("ticket")) if isinstance(event.payload, dict) else None
        event.reference = event_reference(event.pk) if event.ticket is None else ""
    return {"page": page, "kind": kind, "kinds": ActivityEvent.Kind.choices}


def _notes_tab(request, customer, note_form: NoteForm | None = None) -> dict:
    return {"page": customer_notes(customer, after=_query(PageForm, request).get("cursor")),
            "note_form": note_form or NoteForm()}


def _emails_tab(request, customer) -> dict:
    return {"page": customer_emails(customer, after=_query(PageForm, request).get("cursor"))}


def _tickets_tab(request, customer) -> dict:
    return {"page": customer_tickets(customer, after=_query(PageForm, request).get("cursor"))}


TAB_CONTENT = {"subscriptions": _subscriptions_tab, "payments": _payments_tab, "tickets": _tickets_tab,
               "activity": _activity_tab, "notes": _notes_tab, "emails": _emails_tab}
PAGED_TABS = ("payments", "tickets", "activity", "notes", "emails")  # the tabs with "older …" rows and a `<tab>_rows` partial


def _ticket_new_url(request, customer) -> str:
    """Where "Open ticket" (Tickets tab, failed payments, timeline events) goes; empty when it is not offered."""
    if customer.status == customer.Status.ERASED or not has_capability(request.user, Cap.MANAGE_TICKETS):
        return ""
    return reverse("support:ticket_new", kwargs={"public_id": customer.public_id})


def header_context(request, overview, **forms) -> dict:
    """What the header partial needs: the overview, the tag form, the owner select's choices (the directory's
    shared lookups: no query once read), for the escalation bar whether this user may resolve, and why no
    card-update link can be sent (None: it can)."""
    owners = DirectoryLookups.current().owners if has_capability(request.user, Cap.EDIT_CUSTOMERS) else []
    card_link_refusal = (card_links.card_link_refusal(overview.customer)
                         if has_capability(request.user, Cap.CONTACT_CUSTOMERS) else None)
    return {"customer": overview.customer, "overview": overview, "tags": overview.tags, "tag_form": TagForm(),
            "card_link_refusal": card_link_refusal,
            "owner_choices": owners, "owner_names": [owner.username for owner in owners],
            "may_resolve": has_capability(request.user, Cap.RESOLVE_ESCALATIONS),
            "escalation_reasons": Escalation.Reason.choices, **forms}


def _profile_template(request, tab: str) -> str:
    """The tab area for a tab switch, only more rows for a "load more" button (each swaps its own target);
    the full page for everything else (plain navigation, reload, htmx history restore, boosted links)."""
    target = request.htmx.target if request.htmx and not request.htmx.history_restore_request else None
    if target == "profile-tabs":
        return f"{TEMPLATE}#tabs"
    if target == f"{tab}-more" and tab in PAGED_TABS:
        return f"{TEMPLATE}#{tab}_rows"
    return TEMPLATE


# ---- Pages -----------------------------------------------------------------------------------------------------

@require_GET
@require_capability(Cap.VIEW_CUSTOMERS)
def profile(request, public_id: str, tab: str = DEFAULT_TAB):
    template = _profile_template(request, tab)
    if template == TEMPLATE:  # the full page: header too
        overview = access_customer_profile(request, public_id)
        customer, context = overview.customer, header_context(request, overview)
    else:
        customer, context = access_customer(request, public_id), {}
    context.update({"customer": customer, "tab": tab, "tabs": TABS, "ticket_new_url": _ticket_new_url(request, customer),
                    **TAB_CONTENT[tab](request, customer)})
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))  # one URL, two representations
    return response


@require_POST
@require_capability(Cap.EDIT_CUSTOMERS)
def note_add(request, public_id: str):
    customer = access_customer(request, public_id)
    return write_view(
        request, form=NoteForm(request.POST), error_fields="body", message="Note added.",
        service=lambda data: services.customer_note_add(customer=customer, body=data["body"], actor=request.user),
        redirect_to=customer_url(customer, "notes"),
        fragment=lambda outcome: (f"{TEMPLATE}#tabs", {
            "customer": customer, "tab": "notes", "tabs": TABS,
            **_notes_tab(request, customer, note_form=None if outcome.ok else outcome.form)}))


def _tag_change(request, public_id: str, service, message: str):
    customer = access_customer(request, public_id)
    return write_view(
        request, form=TagForm(request.POST), error_fields="name", message=message,
        service=lambda data: service(customer=customer, name=data["name"], actor=request.user),
        redirect_to=customer_url(customer),
        fragment=lambda outcome: (f"{TEMPLATE}#tags", {
            "customer": customer, "tags": customer_tag_names(customer),
            "tag_form": TagForm() if outcome.ok else outcome.form}))


@require_POST
@require_capability(Cap.EDIT_CUSTOMERS)
def tag_add(request, public_id: str):
    return _tag_change(request, public_id, services.customer_tag_add, "Tag added.")


@require_POST
@require_capability(Cap.EDIT_CUSTOMERS)
def tag_remove(request, public_id: str):
    return _tag_change(request, public_id, services.customer_tag_remove, "Tag removed.")


@require_GET
@require_capability(Cap.EDIT_CUSTOMERS)
def tag_suggest(request, public_id: str):
    """<option>s for the add-tag field's <datalist>: existing tags this customer does not have yet."""
    customer = access_customer(request, public_id)
    names = tag_suggestions(customer, text=services.fold_tag_name(request.GET.get("name", "")))
    return render(request, f"{TEMPLATE}#tag_options", {"suggestions": names})


@require_http_methods(["GET", "POST"])
@require_capability(Cap.EDIT_CUSTOMERS)
def profile_edit(request, public_id: str):
    customer = access_customer(request, public_id)
    if request.method == "GET":  # the form is loaded on demand: it is not part of every profile view
        template = f"{TEMPLATE}#profile_form" if request.htmx else EDIT_TEMPLATE
        return render(request, template, {"customer": customer, "profile_form": ProfileForm(customer=customer)})

    def form_again(outcome):  # invalid input: the form again, with its errors, in the dialog or on its own page
        template = f"{TEMPLATE}#profile_form" if request.htmx else EDIT_TEMPLATE
        return render(request, template, {"customer": customer, "profile_form": outcome.form}, status=422)

    return write_view(
        request, form=ProfileForm(request.POST, customer=customer), error_fields={"email_taken": "email"},
        service=lambda data: services.customer_profile_update(customer=customer, actor=request.user, **data),
        message=lambda changed: "Profile saved." if changed else "Nothing to save: no field changed.",
        redirect_to=customer_url(customer), invalid_page=form_again,
        # The dialog lives in the header: replacing the header with fresh figures also closes it.
        fragment=lambda outcome: (f"{TEMPLATE}#header",
                                  header_context(request, access_customer_profile(request, public_id))),
        swap_into="#profile-header")


@require_POST
@require_capability(Cap.EDIT_CUSTOMERS)
def owner_set(request, public_id: str):
    """The header's owner select: "me", an agent's username, or "" for nobody."""
    customer = access_customer(request, public_id)
    form = OwnerForm(request.POST, viewer=request.user, owners=DirectoryLookups.current().owners)

    def message(changed: bool) -> str:
        if not changed:
            return "Nothing changed: that is already the owner."
        return "Owner removed." if form.cleaned_data["owner"] is None else "Owner set."

    return write_view(
        request, form=form, error_fields={"invalid_owner": "owner"}, message=message,
        service=lambda data: services.customer_owner_set(customer=customer, owner_id=data["owner"],
                                                         actor=request.user),
        redirect_to=customer_url(customer),
        fragment=lambda outcome: (f"{TEMPLATE}#header", header_context(
            request, access_customer_profile(request, public_id), owner_form=None if outcome.ok else outcome.form)),
        swap_into="#profile-header")
