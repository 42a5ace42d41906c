from django.shortcuts import render
from django.views.decorators.http import require_GET

from customers.models import Customer
from portal.access import require_capability
from portal.roles import Cap


@require_GET
@require_capability(Cap.VIEW_CUSTOMERS)
def directory(request):
    customers = Customer.objects.select_related("storefront", "plan").order_by("-registered_at", "-id")[:50]
    return render(request, "customers/directory.html", {"customers": customers})
