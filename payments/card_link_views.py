"""Card-update links: the agent's send dialog on the profile, and the customer's page the emailed link opens.

The customer's page (`/pay/card/<token>/`) needs no portal account: the signed token is the permission. It is a
page of its own (templates/payments/card_link/), not the portal's layout: no navigation and nothing about the
customer but their first name and the amount due. It is never cached or indexed and sends no referrer (the URL is
the credential). Its Content-Security-Policy allows Stripe.js only when the Stripe gateway collects the card.
"""

from __future__ import annotations

from urllib.parse import urlsplit
from uuid import uuid4

import structlog
from csp.decorators import csp_update
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from customers.access import access_customer, access_customer_profile
from customers.models import Customer
from customers.views.profile import TEMPLATE as PROFILE_TEMPLATE, customer_url, header_context
from payments import card_links
from payments.card_links import CardLinkRefused
from payments.forms import CARD_FORMS, CardLinkSendForm
from payments.gateways import get_gateway
from payments.gateways.base import GatewayUnavailable
from payments.selectors import customer_amount_due
from portal.access import require_capability
from portal.access_log import disclose
from portal.context import action_source
from portal.errors import DomainError
from portal.roles import Cap
from portal.write_views import write_view

logger = structlog.get_logger(__name__)

SEND_TEMPLATE = "payments/card_link_send.html"
PAGE_TEMPLATE = "payments/card_link/form.html"
DONE_TEMPLATE = "payments/card_link/done.html"
REFUSED_TEMPLATE = "payments/card_link/refused.html"
STRIPE_API_ORIGIN = "https://api.stripe.com"  # Stripe.js calls it to confirm the card
STRIPE_FRAME_ORIGINS = ["https://js.stripe.com", "https://hooks.stripe.com"]  # card field; 3-D Secure


# ---- The agent's side ------------------------------------------------------------------------------------------

def _send_context(customer, form: CardLinkSendForm | None = None) -> dict:
    return {"customer": customer, "refusal": card_links.card_link_refusal(customer),
            "send_form": form or CardLinkSendForm(initial={"form_token": uuid4().hex}),
            "expiry_hours": settings.CARD_LINK_EXPIRY_HOURS, "amount_due": customer_amount_due(customer)}


def _with_storefront():
    return Customer.objects.select_related("storefront")  # app-store billed customers get no link


@require_GET
@require_capability(Cap.CONTACT_CUSTOMERS)
def card_link_new(request, public_id: str):
    """The confirm dialog's body (htmx) or the same form as a page (no JavaScript): where the link will go."""
    customer = access_customer(request, public_id, queryset=_with_storefront())
    template = f"{SEND_TEMPLATE}#dialog_body" if request.htmx else SEND_TEMPLATE
    return render(request, template, _send_context(customer))


@require_POST
@require_capability(Cap.CONTACT_CUSTOMERS)
def card_link_send(request, public_id: str):
    customer = access_customer(request, public_id, queryset=_with_storefront())

    def invalid(outcome):
        template = f"{SEND_TEMPLATE}#dialog_body" if request.htmx else SEND_TEMPLATE
        return render(request, template, _send_context(customer, outcome.form), status=422)

    def fragment(outcome):  # a fresh header closes the dialog; "emails-changed" reloads an open Emails/Activity tab
        return f"{PROFILE_TEMPLATE}#header", header_context(request, access_customer_profile(request, public_id))

    form = CardLinkSendForm(request.POST)
    response = write_view(
        request, form=form,
        service=lambda data: card_links.card_link_send(customer=customer, actor=request.user,
                                                       request_key=form.request_key(request.user)),
        message=lambda link: (f"Card-update link emailed to {customer.email}; it expires "
                              f"{link.expires_at:%Y-%m-%d %H:%M} UTC."),
        redirect_to=customer_url(customer, "activity"), fragment=fragment, swap_into="#profile-header",
        invalid_page=invalid)
    if request.htmx and response.status_code == 200:
        trigger_client_event(response, "emails-changed")
    return response


# ---- The customer's page ---------------------------------------------------------------------------------------

def _customer_page(request, template: str, context: dict, *, status: int = 200, session=None):
    """Render one of the customer's pages with the headers they all need."""
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    js_url = (session.extra.get("js_url", "") if session is not None else "") or ""
    if js_url:  # the Stripe gateway: its script, its frames, its API; nothing else is loosened
        # The script's own origin may serve the API too (a Stripe-compatible test server does).
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(js_url))
        response = csp_update({"script-src": [origin], "frame-src": sorted({origin, *STRIPE_FRAME_ORIGINS}),
                               "connect-src": sorted({origin, STRIPE_API_ORIGIN})})(lambda: response)()
    return response


def _refused_page(request, refused: CardLinkRefused):
    return _customer_page(request, REFUSED_TEMPLATE, {"message": refused.message, "why": refused.why},
                          status=refused.status)


def _form_page(request, link, gateway, form, *, status: int = 200):
    try:
        session = card_links.card_link_open(link=link)
    except GatewayUnavailable:
        logger.warning("card_link.gateway_unavailable", link=link.public_id)
        return _customer_page(request, REFUSED_TEMPLATE, {
            "message": "We cannot reach our payment provider right now. Please try this link again in a few "
                       "minutes.", "why": "unavailable"}, status=503)
    customer = link.customer
    disclose(customer)  # the page shows their first name: the access log records who was shown it
    amount_due = customer_amount_due(customer)
    return _customer_page(request, PAGE_TEMPLATE, {
        "first_name": customer.first_name, "amount_due": amount_due, "currency": customer.currency,
        "form": form, "gateway": gateway.name, "session": session,
        "test_cards": gateway.name == "sandbox", "expires_at": link.expires_at,
    }, status=status, session=session)


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "POST"])
def card_link_page(request, token: str):
    """GET: the card form. POST: save the card, then charge what is outstanding and say so. A refused link (bad
    signature, unknown, expired, used, locked) gets a page that says what to do: 404 or 410, never an error.

    No CSRF check: what authorises the POST is the unguessable token in its URL, not a cookie a browser would send
    on another site's behalf (a site that knew the token would not need the customer's browser). The check could
    not pass anyway: with `Referrer-Policy: no-referrer` the browser sends `Origin: null`."""
    with action_source("system"):  # nobody signed in: the customer, through the emailed link
        try:
            link = card_links.card_link_from_token(token)
        except CardLinkRefused as refused:
            return _refused_page(request, refused)
        gateway = get_gateway()
        form_class = CARD_FORMS[gateway.name]
        if request.method == "GET":
            return _form_page(request, link, gateway, form_class())
        form = form_class(request.POST)
        if form.is_valid():
            try:
                method = card_links.card_link_complete(link=link, submitted=form.submitted())
            except CardLinkRefused as refused:
                return _refused_page(request, refused)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                notice = card_links.charge_outstanding_after_update(method)
                disclose(link.customer)
                return _customer_page(request, DONE_TEMPLATE, {"first_name": link.customer.first_name,
                                                               "notice": notice})
        link.refresh_from_db(fields=["failed_attempts"])
        if link.failed_attempts >= settings.CARD_LINK_MAX_ATTEMPTS:
            return _refused_page(request, CardLinkRefused("locked"))
        return _form_page(request, link, gateway, form, status=422)
