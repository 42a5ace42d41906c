from django.http import JsonResponse

from customers.models import Customer
from portal.api import api_view, iso, money
from portal.roles import Cap


@api_view(capability=Cap.VIEW_CUSTOMERS)
def customer_list(request):
    customers = Customer.objects.select_related("storefront", "plan").order_by("-registered_at", "-id")[:50]
    return JsonResponse({"results": [
        {"id": c.public_id, "name": c.full_name, "email": c.email, "status": c.status,
         "plan": c.plan.code if c.plan else None, "mrr": money(c.mrr, c.currency), "since": iso(c.registered_at),
         "storefront": c.storefront.code, "region": c.country}
        for c in customers
    ]})
