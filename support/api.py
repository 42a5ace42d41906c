"""JSON API for a customer's emails: `GET/POST /api/v1/customers/<cus>/emails` (DESIGN §5).

Same access helper, selector and service as the profile's send dialog and Emails tab.
"""

from __future__ import annotations

from django.http import JsonResponse

from customers.access import access_customer
from customers.api.profile import _query, customer_page_json
from customers.forms import PageForm
from portal.access_log import serializes_customer_data
from portal.api import api_view, iso, json_body
from portal.errors import ApiError
from portal.roles import Cap
from support import services
from support.selectors import customer_emails


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
