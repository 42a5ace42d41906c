from django.urls import NoReverseMatch, reverse

from portal.roles import Cap, has_capability, role_of

# Sidebar entries: (label, url name, capability, shortcut). Entries whose page is not installed are left out.
NAVIGATION = [
    ("Customers", "customers:directory", Cap.VIEW_CUSTOMERS, "g c"),
    ("Segments", "segments:overview", Cap.VIEW_CUSTOMERS, "g s"),
    ("Tickets", "support:tickets", Cap.MANAGE_TICKETS, "g t"),
    ("Approvals", "portal:approvals", Cap.APPROVE_REQUESTS, "g a"),
    ("Audit", "portal:audit", Cap.VIEW_AUDIT, "g l"),
    ("Settings", "portal:settings", None, "g ,"),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    items = []
    for label, url_name, capability, shortcut in NAVIGATION:
        if capability and not has_capability(user, capability):
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "shortcut": shortcut,
                      "active": request.path.startswith(url) and url != "/"})
    return {"nav_items": items, "user_role": role_of(user)}
