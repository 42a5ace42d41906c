"""The customer directory page: one search box, filters, a sortable list in keyset pages.

The whole page renders on a plain GET (bookmarks, shared links, no JavaScript); htmx requests from the filter
form, the sort headers and the page links get only the `results` partial, and the URL is kept in sync.
"""

from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET
from django_htmx.http import push_url

from customers.filters import FILTER_NAMES, PARAMETER_NAMES, find_customers
from customers.selectors.directory import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_SORT,
    SORT_COLUMNS,
    DirectoryPage,
    Search,
    SearchKind,
    Sort,
    customer_named_by,
)
from portal.access import require_capability
from portal.money import reporting_rates_note
from portal.roles import Cap

RESULTS_TARGET = "directory-results"
SEARCH_MATCHES = 8  # rows in the header search's dropdown
# The header search box (templates/partials/header_search.html) is this page's own search: it belongs to the
# filter form, which reloads the results as it is typed in, so the directory has one search box, not two.
HEADER_SEARCH_FORM = "directory-filters"
FIRST_CLICK_DESCENDING = {"mrr", "since"}  # the biggest and the newest are what people look for first


@require_GET
@require_capability(Cap.VIEW_CUSTOMERS)
def directory(request):
    links = DirectoryLinks(request.GET)
    if not request.htmx and links.only_search and (named := customer_named_by(request.GET.get("q", ""))):
        # A complete customer id, subscription id or email names one customer: open the profile (header search,
        # paste), with one query and without building the list.
        return redirect(profile_url(named))
    found = find_customers(request.GET, restart_on_bad_cursor=True, viewer=request.user)
    page = found.page
    if page:
        profile_url_of = profile_url_maker()
        for customer in page.rows:
            customer.profile_url = profile_url_of(customer.public_id)
    context = {
        "found": found,
        "filters": found.filters,
        "page": page,
        "sort_headers": sort_headers(links, page.sort if page else Sort.parse(None)),
        "page_links": {"first": links.url(cursor=None),
                       "previous": page and page.previous_cursor and links.url(cursor=page.previous_cursor),
                       "next": page and page.next_cursor and links.url(cursor=page.next_cursor)},
        "search_note": search_note(page) if page else "",
        "suggestions": empty_result_suggestions(links, page, found.filters.active_filters) if page else [],
        "header_search": {"form": HEADER_SEARCH_FORM, "value": found.filters.form["q"].value() or "",
                          "described_by": "search-help"},
    }
    partial = request.htmx and request.htmx.target == RESULTS_TARGET and not request.htmx.history_restore_request
    response = render(request, "customers/directory.html#results" if partial else "customers/directory.html",
                      context)
    if partial:
        push_url(response, links.url())  # the canonical URL: only the parameters in use
    return response


@require_GET
@require_capability(Cap.VIEW_CUSTOMERS)
def search_matches(request):
    """The header search's dropdown on every page but the directory: the first matches of the directory's own
    search (the same rule and selector, so both always agree), each opening its profile, and a link to the full
    list. An empty box answers nothing, which closes the dropdown; a term the directory refuses (too long, a null
    character) answers with the directory's sentence, never an error."""
    q = request.GET.get("q", "")
    if not q.strip():
        return HttpResponse("")
    found = find_customers({"q": q}, restart_on_bad_cursor=True, per_page=SEARCH_MATCHES)
    if found.page:
        profile_url_of = profile_url_maker()
        for customer in found.page.rows:
            customer.profile_url = profile_url_of(customer.public_id)
    # The page object in the context is what logs each listed customer's read (portal/access_log.py).
    return render(request, "customers/search_matches.html",
                  {"found": found, "page": found.page, "q": q, "directory_url": DirectoryLinks({"q": q}).url()})


def profile_url(public_id: str) -> str:
    return profile_url_maker()(public_id)


def profile_url_maker():
    """public id → profile URL, reversing the route once per page rather than once per row."""
    placeholder = "cus_0"
    try:
        prefix, _, suffix = reverse("customers:profile", args=[placeholder]).partition(placeholder)
    except NoReverseMatch:  # the profile page is not installed (yet); its address is fixed
        prefix, suffix = "/customers/", "/"
    return lambda public_id: f"{prefix}{public_id}{suffix}"


class DirectoryLinks:
    """Directory URLs with some parameters changed (sort headers, pages, suggestions). Canonical: only the
    parameters in use, in a fixed order, so equal views have equal URLs."""

    DEFAULTS = {"sort": DEFAULT_SORT, "per_page": str(DEFAULT_PAGE_SIZE)}

    def __init__(self, params):
        self.params = {name: params.get(name) for name in PARAMETER_NAMES
                       if params.get(name) and params.get(name) != self.DEFAULTS.get(name)}
        self.base = reverse("customers:directory")

    def url(self, **changes) -> str:
        merged = {**self.params, **changes}
        query = urlencode({name: value for name, value in merged.items() if value})
        return f"{self.base}?{query}" if query else self.base

    def without_filters(self) -> str:
        return self.url(cursor=None, **dict.fromkeys(FILTER_NAMES))

    def searching(self, term: str) -> str:
        return self.url(q=term, cursor=None)

    @property
    def only_search(self) -> bool:
        return set(self.params) <= {"q"}


def sort_headers(links: DirectoryLinks, current: Sort) -> list[dict]:
    """One header per sortable column: its link (the other direction when it is the current sort) and aria-sort."""
    headers = []
    for key, column in SORT_COLUMNS.items():
        if key == current.column.key:
            target, aria_sort = current.flipped().value, "descending" if current.descending else "ascending"
        else:
            target, aria_sort = ("-" if key in FIRST_CLICK_DESCENDING else "") + key, None
        headers.append({
            "key": key,
            "label": column.label,
            "url": links.url(sort=None if target == DEFAULT_SORT else target, cursor=None),
            "aria_sort": aria_sort,
            "next_direction": "descending" if target.startswith("-") else "ascending",
            "note": _mrr_note() if key == "mrr" else "",
        })
    return headers


def _mrr_note() -> str:
    return f"{reporting_rates_note()} Each customer's MRR shows in their own currency."


def search_note(page: DirectoryPage) -> str:
    """What the search matched on, when that is not the obvious "anywhere in name, email or id"."""
    search = page.search
    if page.broadened_from and page.rows:
        return f"Nobody has exactly the email “{page.broadened_from.term}”; showing emails that contain it."
    if search is None or search.kind is SearchKind.SUBSTRING:
        return ""
    if search.kind is SearchKind.CUSTOMER_ID:
        return "Exact customer ID match." if search.is_identifier else f"Customer IDs starting “{search.term}”."
    if search.kind is SearchKind.SUBSCRIPTION_ID:
        return (f"The customer who owns subscription {search.term}." if search.is_identifier
                else f"Owners of subscriptions whose ID starts “{search.term}”.")
    if search.kind is SearchKind.EMAIL:
        return "Exact email match."
    return (f"First names, last names and emails starting “{search.term}”. "
            "Type three or more characters to search anywhere in them.")


def empty_result_suggestions(links: DirectoryLinks, page: DirectoryPage, active_filters: dict) -> list[dict]:
    """Searches worth trying when nothing matched, each a link that runs it."""
    if page.rows:
        return []
    suggestions = []
    if active_filters:
        suggestions.append({"label": "Search all customers, without the filters", "url": links.without_filters()})
    search: Search | None = page.broadened_from or page.search
    if search is None:
        return suggestions
    term = search.term
    if search.kind in (SearchKind.CUSTOMER_ID, SearchKind.SUBSCRIPTION_ID) and len(term) > 8:
        start = term[:8]
        suggestions.append({"label": f"Search for IDs starting “{start}” (in case of a typo further on)",
                            "url": links.searching(start)})
    elif "@" in term:
        local, _, domain = term.partition("@")
        if len(local) >= 3:
            suggestions.append({"label": f"Search for the part before the @, “{local}”",
                                "url": links.searching(local)})
        if domain:
            suggestions.append({"label": f"Search for the domain, “{domain}”", "url": links.searching(domain)})
    elif len(words := term.split()) > 1:
        for word in dict.fromkeys((words[-1], words[0])):  # last name first: it is the rarer word
            if len(word) >= 3:
                suggestions.append({"label": f"Search for “{word}” only", "url": links.searching(word)})
    elif len(term) >= 6:
        shorter = term[: len(term) // 2 + 1]
        suggestions.append({"label": f"Search for a shorter part, “{shorter}”", "url": links.searching(shorter)})
    return suggestions
