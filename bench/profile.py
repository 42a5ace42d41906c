"""Benchmark the customer profile: the real page over HTTP (gunicorn) against a naive ORM profile, same data, same run.

    python bench/profile.py            # full run; exits 1 when a target is missed
    python bench/profile.py --quick    # CI smoke on whatever data exists; reports, enforces nothing

Customers measured: the seeded customers with the most payments, plus one "heavy history" customer with 500 payments
and 2,000 timeline events (created once by this script, found again by its email), because the seeded histories
are short and the profile's promise is a cost that does not grow with history.

Optimized: GET of the full profile page (each tab) through gunicorn, signed in as `agent` (bench.harness.measure).
Naive: the same content assembled in-process with plain ORM code, the way a first version would: figures summed
on the fly over every payment, every row loaded, related rows fetched one by one (`naive_profile` below). It skips
HTTP, sessions and template rendering, so the ratio it gives is conservative.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Server, django_setup, emit, machine, measure, session_cookie  # noqa: E402

HEAVY_EMAIL = "bench.heavy-history@example.invalid"
HEAVY_PAYMENTS, HEAVY_EVENTS = 500, 2000
TABS = ("", "payments/", "activity/", "notes/")
TARGET_P95_MS = 25.0  # full profile page over HTTP, enforced at >= 1M customers
TARGET_RATIO = 20.0  # naive p95 / optimized p95 for the heavy-history customer
TARGET_QUERIES = 10
FULL_SCALE_CUSTOMERS = 950_000  # a 1M data set (row counts are planner estimates)


def table_estimate(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE relname = %s", [table])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def busiest_customers(limit: int) -> list[str]:
    """Public ids of the seeded customers with the most payments (from the nightly metrics)."""
    from customers.models import Customer, CustomerMetrics

    ids = list(CustomerMetrics.objects.exclude(customer__email=HEAVY_EMAIL).order_by("-payments_count")
               .values_list("customer__public_id", flat=True)[:limit])
    return ids or list(Customer.objects.exclude(email=HEAVY_EMAIL).order_by("-id")
                       .values_list("public_id", flat=True)[:limit])


def ensure_heavy_customer() -> str:
    """A customer with a long history (500 payments, 2,000 events), created once and reused by later runs."""
    from django.db import transaction
    from django.utils import timezone

    from customers.models import ActivityEvent, Customer, CustomerMetrics, Storefront
    from payments.models import Invoice, Payment, PaymentMethod
    from subscriptions.models import Plan, Subscription

    existing = Customer.objects.filter(email=HEAVY_EMAIL).values_list("public_id", flat=True).first()
    if existing:
        return existing
    now = timezone.now()
    with transaction.atomic():
        storefront = Storefront.objects.filter(kind=Storefront.Kind.WEB).first() or Storefront.objects.create(
            code="web", name="Web", kind=Storefront.Kind.WEB)
        plan = Plan.objects.order_by("rank").first() or Plan.objects.create(code="bench", name="Bench", price=1500)
        customer = Customer.objects.create(first_name="Heavy", last_name="History", email=HEAVY_EMAIL, country="US",
                                           storefront=storefront, registered_at=now - timedelta(days=3650),
                                           status=Customer.Status.ACTIVE, plan=plan, mrr=plan.monthly_price)
        card = PaymentMethod.objects.create(customer=customer, kind="card", brand="visa", last4="4242",
                                            is_default=True, created_at=now)
        subscription = Subscription.objects.create(
            customer=customer, plan=plan, status=Subscription.Status.ACTIVE, started_at=now - timedelta(days=3650),
            current_period_start=now - timedelta(days=10), current_period_end=now + timedelta(days=20),
            payment_method=card)
        invoices = Invoice.objects.bulk_create(
            Invoice(customer=customer, subscription=subscription, number=f"BENCH-HEAVY-{i:05d}", status="paid",
                    currency=plan.currency, subtotal=plan.price, total=plan.price, issued_at=now - timedelta(days=i),
                    lines=[{"description": plan.name, "quantity": 1, "unit_amount": plan.price,
                            "amount": plan.price}])
            for i in range(HEAVY_PAYMENTS))
        Payment.objects.bulk_create(
            Payment(customer=customer, invoice=invoice, payment_method=card, amount=plan.price,
                    currency=plan.currency, status="succeeded" if i % 10 else "failed",
                    created_at=now - timedelta(days=i))
            for i, invoice in enumerate(invoices))
        ActivityEvent.objects.bulk_create(
            ActivityEvent(customer=customer, created_at=now - timedelta(hours=i), kind=kind, action=f"{kind}.bench",
                          source="system", summary=f"Bench {kind} event")
            for i, kind in zip(range(HEAVY_EVENTS), ["payment", "subscription", "support", "campaign"] * HEAVY_EVENTS))
        CustomerMetrics.objects.create(customer=customer, lifetime_value=plan.price * HEAVY_PAYMENTS * 9 // 10,
                                       total_paid=plan.price * HEAVY_PAYMENTS * 9 // 10,
                                       payments_count=HEAVY_PAYMENTS, computed_at=now)
    return customer.public_id


def naive_profile(public_id: str) -> dict:
    """The profile as a first version would read it: no precomputed figures, every row, related rows one by one."""
    from customers.models import Customer
    from payments.models import Payment

    customer = Customer.objects.get(public_id=public_id)
    header = {"name": customer.full_name, "storefront": customer.storefront.name,
              "plan": customer.plan.name if customer.plan_id else None}
    payments = list(customer.payments.order_by("-created_at", "-id"))
    rows = []
    for payment in payments:
        invoice = payment.invoice  # one query per payment
        method = payment.payment_method  # and another
        rows.append((payment.public_id, payment.amount, payment.status, invoice.number if invoice else None,
                     str(method) if method else None))
    captured = [p for p in payments if p.status in Payment.CAPTURED_STATUSES]
    header["lifetime_value"] = sum(p.amount - p.amount_refunded for p in captured)
    header["total_paid"] = sum(p.amount for p in captured)
    header["payments_count"] = len(captured)
    header["credit_balance"] = sum(entry.signed_amount for entry in customer.credit_entries.all())
    header["tags"] = [tag.name for tag in customer.tags.all()]
    header["segments"] = [(m.segment.name, m.reason) for m in customer.segment_memberships.all()]
    subscriptions = [(s.plan.name, s.status, str(s.payment_method) if s.payment_method_id else None)
                     for s in customer.subscriptions.all()]
    activity = [(e.summary, e.actor.username if e.actor_id else None)
                for e in customer.activity.order_by("-created_at")]
    notes = [(n.body, n.author.username if n.author_id else None) for n in customer.notes.all()]
    return {"header": header, "payments": rows[:20], "subscriptions": subscriptions, "activity": activity[:20],
            "notes": notes[:20]}


def time_in_process(fn, public_ids: list[str], repeat: int) -> dict:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    queries = []
    for public_id in public_ids:  # warm-up pass, which also counts the queries (capturing them costs time)
        reset_queries()  # the query log keeps 9,000 entries; an earlier long run must not cap this count
        with CaptureQueriesContext(connection) as captured:
            fn(public_id)
        queries.append(len(captured))
    timings = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(public_ids[i % len(public_ids)])
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return {"n": len(timings), "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(timings[max(int(len(timings) * 0.95) - 1, 0)], 2),
            "queries_per_request": round(statistics.mean(queries), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few requests, no targets enforced")
    parser.add_argument("--repeat", type=int, default=None, help="requests per measurement (default 200, quick 20)")
    args = parser.parse_args()
    repeat = args.repeat or (20 if args.quick else 200)
    naive_repeat = max(repeat // 10, 5)

    django_setup()
    from django.contrib.auth import get_user_model

    if not get_user_model().objects.filter(username="agent").exists():
        print("No user 'agent': load demo data first (manage.py seed_demo).", file=sys.stderr)
        return 2
    heavy = ensure_heavy_customer()
    seeded = busiest_customers(5)
    dataset = {"customers": table_estimate("customers_customer"), "payments": table_estimate("payments_payment"),
               "activity_events": table_estimate("customers_activityevent")}

    cookies = session_cookie("agent")
    results: dict = {}
    with Server() as base_url:
        results["framework_floor"] = measure(base_url, cookies, ["/api/v1/me"], repeat=repeat)
        for label, ids in (("heavy_history", [heavy]), ("busiest_seeded", seeded)):
            paths = [f"/customers/{public_id}/{tab}" for public_id in ids for tab in TABS]
            results[label] = {"optimized_http": measure(base_url, cookies, paths, repeat=repeat),
                              "api_detail_http": measure(base_url, cookies,
                                                         [f"/api/v1/customers/{i}" for i in ids], repeat=repeat),
                              "naive_in_process": time_in_process(naive_profile, ids, naive_repeat)}
            entry = results[label]
            entry["ratio_naive_to_optimized_p95"] = round(
                entry["naive_in_process"]["p95_ms"] / entry["optimized_http"]["p95_ms"], 1)

    heavy_result = results["heavy_history"]
    full_scale = dataset["customers"] >= FULL_SCALE_CUSTOMERS
    checks = {
        "queries_per_page_le_10": max(results[k]["optimized_http"]["queries_per_request"]
                                      for k in ("heavy_history", "busiest_seeded")) <= TARGET_QUERIES,
        "ratio_ge_20_heavy_history": heavy_result["ratio_naive_to_optimized_p95"] >= TARGET_RATIO,
        "p95_le_25ms": max(results[k]["optimized_http"]["p95_ms"]
                           for k in ("heavy_history", "busiest_seeded")) <= TARGET_P95_MS,
    }
    enforced = [] if args.quick else ["queries_per_page_le_10", "ratio_ge_20_heavy_history"] + (
        ["p95_le_25ms"] if full_scale else [])
    report = {
        "bench": "customer_profile",
        "method": ("optimized: full profile page (4 tabs, round-robin) over HTTP via gunicorn (2 workers, 1 client, "
                   "keep-alive), signed in as agent; naive: in-process Django ORM code (figures summed on the fly, "
                   "all payments/events loaded, invoice and method fetched per payment), no HTTP or templates"),
        "machine": machine(),
        "dataset": dataset,
        "customers": {"heavy_history": heavy, "busiest_seeded": seeded},
        "results": results,
        "targets": {"p95_ms": TARGET_P95_MS, "ratio": TARGET_RATIO, "queries": TARGET_QUERIES,
                    "p95_enforced_from_customers": FULL_SCALE_CUSTOMERS},
        "checks": checks,
        "enforced": enforced,
        "passed": all(checks[name] for name in enforced),
    }
    emit(report)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
