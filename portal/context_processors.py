from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from portal.roles import Cap, has_capability, role_of


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    capability: str | None
    shortcut: str  # "g c": portal.js follows the sidebar link whose data-shortcut matches the keys pressed
    icon: str  # a symbol of templates/partials/icons.html, shown alone when the sidebar is collapsed
    # A count beside the label (URL name and the capability to see it), loaded by htmx once the page is shown:
    # the sidebar is on every page, and no page should pay a query for it.
    badge: tuple[str, str] | None = None


# Sidebar entries. Entries whose page is not installed are left out.
NAVIGATION = [
    NavEntry("Customers", "customers:directory", Cap.VIEW_CUSTOMERS, "g c", "users"),
    NavEntry("Segments", "segments:overview", Cap.VIEW_CUSTOMERS, "g s", "segments"),
    NavEntry("Tickets", "support:tickets", Cap.MANAGE_TICKETS, "g t", "tickets"),
    NavEntry("Escalations", "escalations:queue", Cap.RESOLVE_ESCALATIONS, "g e", "escalations"),
    # Everybody sees their own requests there; managers the queue, with the count of requests waiting for them.
    NavEntry("Approvals", "portal:approvals", Cap.VIEW_CUSTOMERS, "g a", "approvals",
             badge=("portal:approvals_badge", Cap.APPROVE_REQUESTS)),
    # Offers made to customers who asked to cancel, and what they kept: counts and sums, nobody's data.
    NavEntry("Retention", "subscriptions:retention", Cap.VIEW_CUSTOMERS, "g r", "retention"),
    NavEntry("Audit", "portal:audit", Cap.VIEW_AUDIT, "g l", "audit"),
    NavEntry("Settings", "portal:settings", None, "g ,", "settings"),
]


@dataclass(frozen=True)
class Shortcut:
    keys: tuple[str, ...]  # alternatives, each as shown: "/", "Ctrl+K", "g c"
    label: str


# The keys portal.js answers on every page. The shortcuts dialog lists these and then one "Go to" line per sidebar
# entry the user sees, from the same items as the sidebar's hints, so the two cannot disagree.
GLOBAL_SHORTCUTS = [
    Shortcut(("/", "Ctrl+K"), "Search customers"),
    Shortcut(("↑ ↓", "j k"), "Move through list rows (in the search box, ↑ ↓ move through its matches)"),
    Shortcut(("Enter",), "Open the selected row or search match"),
    Shortcut(("Esc",), "Close the search matches, then leave the search box"),
    Shortcut(("?",), "This list"),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    items = []
    for entry in NAVIGATION:
        if entry.capability and not has_capability(user, entry.capability):
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        badge_url = None
        if entry.badge and has_capability(user, entry.badge[1]):
            badge_url = reverse(entry.badge[0])
        items.append({"label": entry.label, "url": url, "shortcut": entry.shortcut, "icon": entry.icon,
                      "active": request.path.startswith(url) and url != "/", "badge_url": badge_url})
    shortcuts = [*GLOBAL_SHORTCUTS, *(Shortcut((item["shortcut"],), f"Go to {item['label']}") for item in items)]
    return {"nav_items": items, "shortcuts": shortcuts, "user_role": role_of(user)}
