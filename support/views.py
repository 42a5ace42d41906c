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
from support.models import EmailTemplate
from support.selectors import email_template_choices

TEMPLATE = "support/email_send.html"


def _with_plan():
    return Customer.objects.select_related("plan")  # the plan name is an email variable


def _preview(customer, agent, code: str | None) -> dict:
    """The rendered email for the preview, or the sentence saying why there is none."""
    if not code:
        return {"preview": None, "preview_error": None}
    template = EmailTemplate.objects.filter(code=code, active=True).first()
    if template is None:
        return {"preview": None, "preview_error": "Choose one of the templates listed."}
    try:
        rendered = services.email_render(template=template, customer=customer, agent=agent)
    except DomainError as exc:
        return {"preview": None, "preview_error": exc.message, "preview_template": template}
    return {"preview": rendered, "preview_error": None, "preview_template": template}


def _dialog_context(request, customer, form: EmailSendForm | None = None) -> dict:
    choices = email_template_choices(customer)
    form = form or EmailSendForm(choices=choices)
    sendable = [choice.code for choice in choices if not choice.refusal]
    selected = form["template"].value() if form.is_bound else request.GET.get("template") or next(iter(sendable), "")
    return {"customer": customer, "choices": choices, "email_form": form, "selected": selected,
            **_preview(customer, request.user, selected if selected in sendable else None)}


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
    sendable = {choice.code for choice in email_template_choices(customer) if not choice.refusal}
    context = {"customer": customer, **_preview(customer, request.user, code if code in sendable else None)}
    if code and code not in sendable:
        context["preview_error"] = "This template cannot be sent to this customer; the list says why."
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
        return f"{PROFILE_TEMPLATE}#header", _header_context(access_customer_profile(request, public_id))

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
