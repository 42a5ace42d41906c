"""GET /api/v1/customers: the directory as JSON, with the page's parameters and permissions."""

from django.http import JsonResponse

from customers.filters import find_customers
from portal.api import api_view, iso, money
from portal.errors import ApiError
from portal.roles import Cap


@api_view(capability=Cap.VIEW_CUSTOMERS)
def customer_list(request):
    """Query parameters as on /customers/ (`q`, `status`, `plan`, `storefront`, `region`, `joined_after`,
    `joined_before`, `segment`, `sort`, `per_page`, `cursor`); `next` is the cursor of the following page."""
    found = find_customers(request.GET, restart_on_bad_cursor=False)  # a stale cursor: 400 invalid_cursor
    if found.page is None:
        raise ApiError(400, "invalid_parameters", " ".join(found.errors))
    page = found.page
    return JsonResponse({
        "results": [
            {"id": c.public_id, "name": c.full_name, "email": c.email, "status": c.status,
             "plan": c.plan.code if c.plan else None, "mrr": money(c.mrr, c.currency),
             "since": iso(c.registered_at), "storefront": c.storefront.code if c.storefront else None,
             "region": c.country}
            for c in page.rows
        ],
        "next": page.next_cursor,
        "previous": page.previous_cursor,
        "count": {"value": page.count.value, "exact": page.count.exact},
    })
