"""Customer directory benchmark: the directory (page and API) next to a naive baseline, on the dev database.

    .venv/bin/python bench/directory.py            # full run (make bench): 1M customers, targets checked
    .venv/bin/python bench/directory.py --quick    # CI smoke: whatever data exists, few requests, no targets

Prints one JSON document; its "method" field says how each number was taken.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Server, django_setup, emit, machine, measure, session_cookie  # noqa: E402

FULL_SCALE = 1_000_000
DEEP_PAGE = 20_000
PAGE_SIZE = 25
DIRECTORY_REPEATS = 5  # in the in-process comparison the directory cycles its samples this many times
HTMX = {"HX-Request": "true", "HX-Target": "directory-results", "HX-Current-URL": "http://127.0.0.1/customers/"}
TARGETS_MS = {"substring": 15, "exact": 5, "list": 30}  # p95 through gunicorn over HTTP, one client
RATIO_TARGETS = {"substring": 100, "deep page": 50}  # naive p50 / directory p50, same data, same run
METHOD = (
    "Absolute numbers: the real app under gunicorn (2 sync workers, DEBUG off) on loopback, one client, one "
    "request at a time (bench/harness.py measure): full HTML page GETs as a browser sends them and JSON API "
    "GETs (and, for searches, the htmx request the search box sends while typing, answered with the results "
    "partial), each shape rotating over {samples} sample values drawn from the data, {repeat} timed requests after 5 "
    "warm-up ones; queries per request from the X-Query-Count header (session, auth and role queries included). "
    "Ratios: the directory API and a naive JSON view (defined in this file: Django-admin-style icontains OR over "
    "name, email, customer id and subscription id with DISTINCT, ORM filters, Paginator = exact COUNT + OFFSET) "
    "served in-process by django.test.Client with the same middleware: {baseline_repeat} naive requests per "
    "shape (each takes seconds) and 5 times as many directory requests over the same samples; p50 over p50. "
    "icontains compiles to UPPER(col) LIKE, which no index serves, so the baseline runs as if there were no "
    "trigram index. Plans: EXPLAIN of every SQL statement one request of each shape runs."
)


@dataclass
class Shape:
    name: str
    kind: str  # substring | exact | list | extra (reported, no target)
    params: list[dict]  # one dict of query parameters per sample
    page_status: int = 200  # a complete customer or subscription id opens the profile (302)
    baseline: bool = False
    results: dict = field(default_factory=dict)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few requests, any data size, no targets")
    parser.add_argument("--repeat", type=int, help="timed requests per shape (default 200, quick 20)")
    parser.add_argument("--baseline-repeat", type=int, help="naive requests per shape (default 10, quick 2)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shape", action="append", help="run only this shape (repeatable), e.g. 'filter: owner'")
    args = parser.parse_args()
    repeat = args.repeat or (20 if args.quick else 200)
    baseline_repeat = args.baseline_repeat or (2 if args.quick else 10)

    django_setup()
    from customers.models import Customer

    total = Customer.objects.count()
    if total == 0:
        print("No customers: load some first (manage.py seed_demo --customers N).", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    shapes = build_shapes(rng, total)
    if args.shape:
        shapes = [shape for shape in shapes if shape.name in args.shape]
        if not shapes:
            print(f"No shape is called {args.shape}.", file=sys.stderr)
            return 2
    cookies = session_cookie("agent")

    with Server() as base_url:
        for shape in shapes:
            pages = [f"/customers/?{urlencode(_without_naive(p))}" for p in shape.params]
            apis = [f"/api/v1/customers?{urlencode(_without_naive(p))}" for p in shape.params]
            shape.results["page"] = measure(base_url, cookies, pages, repeat=repeat, expect=shape.page_status)
            if shape.kind == "substring":  # what the search box sends while the agent types
                shape.results["htmx_results"] = measure(base_url, cookies, pages, repeat=repeat, headers=HTMX)
            shape.results["api"] = measure(base_url, cookies, apis, repeat=repeat)

    baseline = compare_with_naive([s for s in shapes if s.baseline], baseline_repeat)
    plans = explain_shapes(shapes)
    report = {
        "benchmark": "customer directory (issue 4)",
        "mode": "quick" if args.quick else "full",
        "dataset": dataset(),
        "machine": machine(),
        "method": METHOD.format(samples=len(shapes[0].params), repeat=repeat, baseline_repeat=baseline_repeat),
        "shapes": [{"shape": s.name, "kind": s.kind,
                    "example": f"/customers/?{urlencode(_without_naive(s.params[0]))}",
                    **s.results} for s in shapes],
        "baseline": baseline,
        "plans": plans,
    }
    report["targets"] = check_targets(shapes, baseline, plans)
    full_scale = total >= FULL_SCALE and not args.quick
    report["targets"]["enforced"] = full_scale
    emit(report)
    return 1 if full_scale and not report["targets"]["all_met"] else 0


# --- Shapes drawn from the data ------------------------------------------------------------------------------


def build_shapes(rng: random.Random, total: int, samples: int = 20) -> list[Shape]:
    from customers.models import Customer, Storefront
    from segments.models import Segment
    from subscriptions.models import Plan, Subscription

    max_id = Customer.objects.order_by("-id").values_list("id", flat=True).first()
    people = list(Customer.objects.filter(id__in=[rng.randint(1, max_id) for _ in range(samples * 20)])
                  .values("public_id", "first_name", "last_name", "email", "registered_at")[:samples])
    people = (people * samples)[:samples]  # a small data set may have fewer than `samples` customers
    max_subscription = Subscription.objects.order_by("-id").values_list("id", flat=True).first() or 0
    subscriptions = list(Subscription.objects.filter(
        id__in=[rng.randint(1, max_subscription) for _ in range(samples * 20)]).values_list("public_id", flat=True)
        [:samples]) if max_subscription else []
    plans = list(Plan.objects.values_list("code", flat=True))
    storefronts = list(Storefront.objects.values_list("code", flat=True))
    segments = list(Segment.objects.values_list("code", flat=True))
    regions = _regions()
    owners = _owners()
    cycle = lambda values, key: [{key: values[i % len(values)]} for i in range(samples)]  # noqa: E731
    today = date.today()
    months = [(today - timedelta(days=30 * (i + 1)), today - timedelta(days=30 * i + 1)) for i in range(samples)]

    shapes = [
        Shape("partial email", "substring", [{"q": _email_fragment(p["email"], rng)} for p in people], baseline=True),
        Shape("name", "substring", [{"q": p["last_name"].lower()} for p in people], baseline=True),
        Shape("full name", "substring", [{"q": f"{p['first_name']} {p['last_name']}"} for p in people]),
        Shape("customer id", "exact", [{"q": p["public_id"]} for p in people], page_status=302),
        Shape("subscription id", "exact", [{"q": s} for s in subscriptions or ["sub_none"]],
              page_status=302 if subscriptions else 200),
        Shape("full email", "exact", [{"q": email} for email in _unique_emails(people, samples)], page_status=302),
        Shape("customer id prefix", "substring", [{"q": p["public_id"][:10]} for p in people]),
        Shape("two letters", "substring", [{"q": p["first_name"][:2].lower()} for p in people]),
        Shape("filter: status", "list", cycle(["active", "inactive", "churned"], "status"), baseline=True),
        Shape("filter: plan", "list", cycle(plans + ["none"], "plan")),
        Shape("filter: storefront", "list", cycle(storefronts, "storefront")),
        Shape("filter: region", "list", cycle(regions, "region")),
        Shape("filter: joined", "list", [{"joined_after": start.isoformat(), "joined_before": end.isoformat()}
                                        for start, end in months]),
        Shape("filter: segment", "list", cycle(segments, "segment")),
        # "My customers" and a colleague's, in every sort (the (owner_id, <sort>) indexes of customers 0006)
        Shape("filter: owner", "list", [
            {"owner": ("me", *owners)[i % (len(owners) + 1)] if owners else "me",
             **({"sort": SORT_CYCLE[i % len(SORT_CYCLE)]} if SORT_CYCLE[i % len(SORT_CYCLE)] else {})}
            for i in range(samples)]),
        Shape("filter + sort", "list", [
            [{"status": "active", "sort": "-mrr"}, {"status": "churned", "sort": "mrr"},
             {"region": regions[0], "sort": "name"}, {"plan": plans[0] if plans else "none", "sort": "email"},
             {"storefront": storefronts[-1], "sort": "-since"}, {"status": "inactive", "sort": "plan"},
             {"segment": segments[0], "sort": "-name"}, {"region": regions[-1], "sort": "-storefront"}][i % 8]
            for i in range(samples)], baseline=True),
        Shape("page 1", "list", [{}] * samples, baseline=True),
        Shape("deep page", "list", _deep_page_params(total, samples), baseline=True),
        Shape("name search sorted by name", "extra", [{"q": p["last_name"].lower(), "sort": "name"} for p in people]),
        Shape("sort by MRR", "extra", _mrr_sort_params(total, samples)),
    ]
    return shapes


def _unique_emails(people: list[dict], samples: int) -> list[str]:
    """Emails only one customer has: pasted into the search, they open that customer's profile (302)."""
    from django.db.models import Count
    from django.db.models.functions import Lower

    from customers.models import Customer

    emails = {p["email"].lower() for p in people}
    shared = set(Customer.objects.annotate(address=Lower("email")).filter(address__in=emails)
                 .values("address").annotate(n=Count("id")).filter(n__gt=1).values_list("address", flat=True))
    unique = [email for email in sorted(emails) if email not in shared]
    return (unique * samples)[:samples]


def _email_fragment(email: str, rng: random.Random) -> str:
    local = email.split("@")[0]
    if len(local) < 8:
        return email[: max(3, len(local))]
    start = rng.randint(1, len(local) - 6)
    return local[start:start + 6]


SORT_CYCLE = [None, "name", "-email", "status", "plan", "-mrr", "since", "-storefront"]


def _owners() -> list[str]:
    """Usernames of users who own customers (the seeder gives a share of them to the demo agent and manager)."""
    from django.contrib.auth import get_user_model

    return sorted(get_user_model().objects.filter(owned_customers__isnull=False).distinct()
                  .values_list("username", flat=True))


def _regions() -> list[str]:
    from customers.selectors.directory import DirectoryLookups

    return [code for code, _ in DirectoryLookups().regions]


def _deep_page_params(total: int, samples: int) -> list[dict]:
    """Cursors to page 20,000 (or halfway through a smaller table), for the default sort and three others."""
    from customers.models import Customer
    from customers.selectors.directory import Cursor, Sort

    page = min(DEEP_PAGE, max(2, total // PAGE_SIZE // 2))
    offset = (page - 1) * PAGE_SIZE - 1  # the last row of the page before
    params = []
    for sort in ("-since", "name", "-email", "since"):
        order = Sort.parse(sort)
        row = Customer.objects.order_by(*order.order_by()).only(*order.column.keyset)[offset]
        params.append({"sort": sort, "cursor": Cursor(order.value, False, order.position_of(row)).encode(),
                       "naive_page": page})
    return (params * samples)[:samples]


def _mrr_sort_params(total: int, samples: int) -> list[dict]:
    """The MRR sort both ways, on page 1 and on a deep page (as deep as _deep_page_params goes)."""
    from customers.models import Customer
    from customers.selectors.directory import Cursor, Sort

    page = min(DEEP_PAGE, max(2, total // PAGE_SIZE // 2))
    offset = (page - 1) * PAGE_SIZE - 1
    params = []
    for sort in ("-mrr", "mrr"):
        order = Sort.parse(sort)
        row = Customer.objects.order_by(*order.order_by()).only(*order.column.keyset)[offset]
        params += [{"sort": sort}, {"sort": sort, "cursor": Cursor(order.value, False, order.position_of(row)).encode(),
                                    "naive_page": page}]
    return (params * samples)[:samples]


def dataset() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""SELECT (SELECT count(*) FROM customers_customer),
                                 (SELECT count(*) FROM subscriptions_subscription),
                                 (SELECT count(*) FROM segments_segmentmembership),
                                 pg_size_pretty(pg_total_relation_size('customers_customer')),
                                 current_setting('server_version'), current_setting('shared_buffers')""")
        customers, subscriptions, memberships, size, version, buffers = cursor.fetchone()
    return {"customers": customers, "subscriptions": subscriptions, "segment_memberships": memberships,
            "customers_table_with_indexes": size, "postgres": version, "shared_buffers": buffers}


# --- The naive baseline --------------------------------------------------------------------------------------


def naive_directory(request):
    """The directory as a first version would write it: icontains OR over columns (and a join), ORM filters,
    order_by, Django's Paginator (exact COUNT + OFFSET)."""
    from django.core.paginator import Paginator
    from django.db.models import Q
    from django.http import JsonResponse

    from customers.models import Customer

    params = request.GET
    customers = Customer.objects.select_related("plan", "storefront")
    if q := params.get("q", "").strip():
        customers = customers.filter(
            Q(first_name__icontains=q) | Q(last_name__icontains=q) | Q(email__icontains=q)
            | Q(public_id__icontains=q) | Q(subscriptions__public_id__icontains=q)).distinct()
    for name, lookup in (("status", "status"), ("plan", "plan__code"), ("storefront", "storefront__code"),
                         ("region", "country"), ("joined_after", "registered_at__date__gte"),
                         ("joined_before", "registered_at__date__lte"),
                         ("segment", "segment_memberships__segment__code")):
        if value := params.get(name):
            customers = customers.filter(**({"plan__isnull": True} if (name, value) == ("plan", "none")
                                            else {lookup: value}))
    sort = params.get("sort", "-since")
    field_name = {"name": "last_name", "since": "registered_at", "plan": "plan__name",
                  "storefront": "storefront__name"}.get(sort.lstrip("-"), sort.lstrip("-"))
    customers = customers.order_by(("-" if sort.startswith("-") else "") + field_name, "pk")
    page = Paginator(customers, PAGE_SIZE).get_page(params.get("naive_page", 1))
    return JsonResponse({
        "results": [{"id": c.public_id, "name": c.full_name, "email": c.email, "status": c.status,
                     "plan": c.plan.code if c.plan else None, "mrr": c.mrr, "storefront": c.storefront.code}
                    for c in page],
        "count": page.paginator.count,
    })


def compare_with_naive(shapes: list[Shape], repeat: int) -> list[dict]:
    """The naive view and the directory API, in-process with the test client, on the same samples."""
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings
    from django.urls import path

    from portal import urls as project_urls

    class NaiveUrls:  # the project's URLs plus the naive view, for this comparison only
        urlpatterns = [path("bench/naive-directory", naive_directory), *project_urls.urlpatterns]

    client = Client()
    client.force_login(get_user_model().objects.get(username="agent"))
    rows = []
    with override_settings(ROOT_URLCONF=NaiveUrls, ALLOWED_HOSTS=["testserver"]):
        for shape in shapes:
            samples = shape.params[:repeat]
            # The directory first, so the naive scans cannot have pushed its pages out of the cache.
            directory = _time(client, [f"/api/v1/customers?{urlencode(_without_naive(p))}"
                                       for p in samples * DIRECTORY_REPEATS])
            naive = _time(client, [f"/bench/naive-directory?{urlencode(p)}" for p in samples])
            rows.append({"shape": shape.name, "naive": naive, "directory": directory,
                         "speedup_p50": round(naive["p50_ms"] / max(directory["p50_ms"], 0.001), 1)})
    return rows


def _without_naive(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "naive_page"}


def _time(client, paths: list[str]) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(paths[0])  # warm up
    timings, queries = [], []
    for path in paths:
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
        queries.append(len(captured))
    timings.sort()
    return {"n": len(timings), "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 2),
            "queries_per_request": round(statistics.mean(queries), 1)}


# --- Plans ---------------------------------------------------------------------------------------------------


def explain_shapes(shapes: list[Shape]) -> dict:
    """EXPLAIN every statement on customers that one API request of each shape runs; list the scans."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username="agent"))
    plans, seq_scans = {}, []
    for shape in shapes:
        with CaptureQueriesContext(connection) as captured:
            client.get(f"/api/v1/customers?{urlencode(_without_naive(shape.params[0]))}")
        scans = []
        with connection.cursor() as cursor:
            for query in captured.captured_queries:
                sql = query["sql"]
                if "customers_customer" not in sql or sql.startswith("EXPLAIN"):
                    continue
                cursor.execute("EXPLAIN " + sql)
                lines = [row[0].strip().removeprefix("->  ") for row in cursor.fetchall()]
                scans += [line.split("  (")[0] for line in lines if " Scan " in line or line.startswith("Seq")]
        plans[shape.name] = list(dict.fromkeys(scans))
        if any("Seq Scan on customers_customer" in scan for scan in scans):
            seq_scans.append(shape.name)
    return {"scans_by_shape": plans, "shapes_with_seq_scan_on_customers": seq_scans}


# --- Targets -------------------------------------------------------------------------------------------------


def check_targets(shapes: list[Shape], baseline: list[dict], plans: dict) -> dict:
    checks = []
    for shape in shapes:
        if shape.kind in TARGETS_MS:
            limit = TARGETS_MS[shape.kind]
            p95 = shape.results["page"]["p95_ms"]
            checks.append({"check": f"{shape.name}: page p95 <= {limit} ms", "value": p95, "met": p95 <= limit})
    by_shape = {row["shape"]: row for row in baseline}
    for name, kind in (("partial email", "substring"), ("name", "substring"), ("deep page", "deep page")):
        if name in by_shape:
            ratio = by_shape[name]["speedup_p50"]
            target = RATIO_TARGETS[kind]
            checks.append({"check": f"{name}: >= {target}x faster than naive", "value": ratio, "met": ratio >= target})
    checks.append({"check": "no sequential scan on customers in any shape",
                   "value": plans["shapes_with_seq_scan_on_customers"],
                   "met": not plans["shapes_with_seq_scan_on_customers"]})
    return {"checks": checks, "all_met": all(c["met"] for c in checks)}


if __name__ == "__main__":
    sys.exit(main())
