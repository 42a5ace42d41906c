"""Sending an email from the customer's profile: the dialog, its preview, and the send.

The dialog opens from the profile header (htmx loads it into the header's <dialog>); without JavaScript the same
form is a page of its own. The preview is rendered for this customer by the same code that renders the email.
"""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from customers.access import access_customer, access_customer_profile
from customers.models import Customer
from customers.views.profile import TEMPLATE as PROFILE_TEMPLATE, _header_context, customer_url
from portal.access import require_capability
from portal.errors import DomainError
from portal.roles import Cap
from portal.write_views import write_view
from support import services
from support.forms import EmailSendForm
from support.selectors import email_template_choices

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

    def form_again(outcome):  # a refusal: the dialog (or its page) again, with the reason on the field
        template = f"{TEMPLATE}#dialog_body" if request.htmx else TEMPLATE
        return render(request, template, _dialog_context(request, customer, outcome.form), status=422)

    response = write_view(
        request, form=EmailSendForm(request.POST, choices=choices), error_fields="template",
        service=lambda data: services.email_send(customer=customer, template_code=data["template"],
                                                 actor=request.user),
        message=lambda message: f"Email queued to {message.to_address}.", invalid_page=form_again,
        redirect_to=customer_url(customer, "emails"),
        # The dialog lives in the header: a fresh header closes it.
        fragment=lambda outcome: (f"{PROFILE_TEMPLATE}#header",
                                  _header_context(access_customer_profile(request, public_id))),
        swap_into="#profile-header")
    if request.htmx and response.status_code == 200:
        trigger_client_event(response, "emails-changed")  # reloads an open Emails or Activity tab
    return response
