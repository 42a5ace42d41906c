"""JSON API of the payments app: `POST /api/v1/customers/<cus>/payment-method-link` emails the customer a
card-update link. Same load helper and service as the profile's dialog."""

from __future__ import annotations

from django.http import JsonResponse

from customers.access import access_customer
from customers.models import Customer
from payments import card_links
from portal.api import api_view, iso, json_body
from portal.errors import ApiError
from portal.roles import Cap


def card_link_json(link) -> dict:
    """The link by id, when it stops working and the email that carries it; never the URL (the email has it)."""
    return {"id": link.public_id, "customer": link.customer.public_id, "expires_at": iso(link.expires_at),
            "used_at": iso(link.used_at), "email": {"id": link.email.public_id if link.email_id else None}}


@api_view(methods=("POST",), capability=Cap.CONTACT_CUSTOMERS)
def customer_card_link(request, public_id: str):
    """POST (empty body or {}): issue a card-update link and email it to the customer (201). 422 with the reason
    for an erased, app-store billed or address-less customer. Send an Idempotency-Key to make a retry safe."""
    customer = access_customer(request, public_id, queryset=Customer.objects.select_related("storefront"))
    unknown = sorted(json_body(request))
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown fields: {', '.join(unknown)}. Send an empty body or {{}}.")
    link = card_links.card_link_send(customer=customer, actor=request.user)
    return JsonResponse(card_link_json(link), status=201)
