"""GET /api/v1/customers: the directory as JSON, with the page's parameters and permissions."""

from django.http import JsonResponse

from customers.filters import find_customers
from portal.access_log import serializes_customer_data
from portal.api import api_view, iso, money
from portal.errors import ApiError
from portal.money import reporting_currency
from portal.roles import Cap


def subscription_state_json(customer) -> dict:
    """The subscription's state and the dates that matter in it (null when they do not apply)."""
    return {"state": customer.subscription_state or None, "trial_ends_at": iso(customer.trial_ends_at),
            "payment_failing_since": iso(customer.payment_failing_since), "grace_ends_at": iso(customer.grace_ends_at),
            "resumes_on": customer.resumes_on.isoformat() if customer.resumes_on else None}


@serializes_customer_data
def directory_row_json(customer) -> dict:
    return {"id": customer.public_id, "name": customer.full_name, "email": customer.email, "status": customer.status,
            "plan": customer.plan.code if customer.plan else None, "mrr": money(customer.mrr, customer.currency),
            "mrr_reporting": money(customer.mrr_reporting, reporting_currency()),
            "subscription": subscription_state_json(customer), "since": iso(customer.registered_at),
            "storefront": customer.storefront.code if customer.storefront else None, "region": customer.country,
            "escalated_at": iso(customer.escalated_at)}


@api_view(capability=Cap.VIEW_CUSTOMERS)
def customer_list(request):
    """Query parameters as on /customers/ (`q`, `status`, `plan`, `storefront`, `region`, `joined_after`,
    `joined_before`, `segment`, `owner` (`me` or a username), `sort`, `per_page`, `cursor`); `next` is the cursor
    of the following page."""
    found = find_customers(request.GET, restart_on_bad_cursor=False,  # a stale cursor: 400 invalid_cursor
                           viewer=request.user)
    if found.page is None:
        raise ApiError(400, "invalid_parameters", " ".join(found.errors))
    page = found.page
    return JsonResponse({
        "results": [directory_row_json(customer) for customer in page.rows],
        "next": page.next_cursor,
        "previous": page.previous_cursor,
        "count": {"value": page.count.value, "exact": page.count.exact},
    })
