"""The customer profile page: header, tabs, paging, access log, query budget, roles.

`make_customer` / `add_history` (below) build the histories the other profile tests use too.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import ActivityEvent, Customer, CustomerMetrics, CustomerTag, Tag
from customers.selectors.profile import PAGE_SIZE, profile_overview
from customers.services import customer_refresh_derived_state
from payments.models import CreditEntry, Payment, Refund
from portal.models import AccessLog
from segments.models import Segment, SegmentMembership
from subscriptions.models import Subscription
from tests.factories import (
    ActivityEventFactory, CustomerFactory, InvoiceFactory, NoteFactory, PaymentFactory, PaymentMethodFactory,
    PlanFactory, StorefrontFactory, SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


# ---- Histories -------------------------------------------------------------------------------------------------

PAST_STATUSES = (Subscription.Status.SUSPENDED, Subscription.Status.CANCELLED, Subscription.Status.EXPIRED)


def make_customer(*, live_status: str = Subscription.Status.ACTIVE, **fields) -> Customer:
    """A customer whose subscriptions cover `live_status` plus suspended, cancelled and expired ones, with one
    payment of each status, credit, a segment, tags, notes and activity of every kind."""
    now = timezone.now()
    plan = PlanFactory(code="pro-monthly", name="Pro Monthly", price=2500)
    yearly = PlanFactory(code="basic-yearly", name="Basic Yearly", price=12000, interval="year")
    customer = CustomerFactory(
        first_name="Ada", last_name="Lovelace", phone="+44 20 7946 0018", address_line1="12 Analytical Row",
        city="London", postal_code="N1 9GU", country="GB", storefront=StorefrontFactory(), status="active",
        plan=plan, mrr=2500, registered_at=now - timedelta(days=800), **fields,
    )
    card = PaymentMethodFactory(customer=customer, brand="visa", last4="4242")
    SubscriptionFactory(customer=customer, plan=plan, status=live_status, payment_method=card,
                        started_at=now - timedelta(days=100), trial_end=now + timedelta(days=5))
    for offset, status in enumerate(PAST_STATUSES, start=1):
        started = now - timedelta(days=400 * offset)
        SubscriptionFactory(customer=customer, plan=yearly, status=status, started_at=started,
                            current_period_start=started,
                            current_period_end=now - timedelta(days=400 * offset - 30),
                            ended_at=now - timedelta(days=400 * offset - 30))
    for minutes, status in enumerate(Payment.Status.values):
        refunded = {"refunded": 2500, "partially_refunded": 1000}.get(status, 0)
        payment = PaymentFactory(customer=customer, status=status, amount=2500, amount_refunded=refunded,
                                 payment_method=card, created_at=now - timedelta(minutes=minutes),
                                 failure_message="Card declined" if status == "failed" else "")
        if refunded:
            Refund.objects.create(payment=payment, amount=refunded, currency="USD", status="succeeded",
                                  reason="Goodwill", created_at=now)
    CustomerMetrics.objects.create(customer=customer, lifetime_value=123456, total_paid=130000, payments_count=52,
                                   computed_at=now)
    CreditEntry.objects.create(customer=customer, kind="grant", amount=1000, currency="USD", created_at=now)
    CreditEntry.objects.create(customer=customer, kind="applied", amount=300, currency="USD", created_at=now)
    SegmentMembership.objects.create(customer=customer, segment=Segment.objects.get(code="at_risk"),
                                     reason="A payment failed in the last 30 days", since=now - timedelta(days=3))
    for name in ("vip", "beta tester"):
        CustomerTag.objects.create(customer=customer, tag=Tag.objects.get_or_create(name=name)[0])
    NoteFactory(customer=customer, body="Prefers email over phone.")
    for minutes, (kind, source) in enumerate(zip(ActivityEvent.Kind.values,
                                                 ("system", "agent", "api", "bulk", "scheduled", "agent"))):
        ActivityEventFactory(customer=customer, kind=kind, source=source, action=f"{kind}.example",
                             summary=f"Example {kind} event", created_at=now - timedelta(hours=minutes))
    customer_refresh_derived_state(customer)  # as the subscription services do
    customer.refresh_from_db()
    return customer


def add_history(customer: Customer, *, payments: int, events: int) -> None:
    """Bulk history (one invoice shared by all payments, to keep the setup fast)."""
    now = timezone.now()
    invoice = InvoiceFactory(customer=customer)
    Payment.objects.bulk_create(
        Payment(customer=customer, invoice=invoice, amount=1500, currency="USD", status="succeeded",
                created_at=now - timedelta(days=1, minutes=i))
        for i in range(payments))
    ActivityEvent.objects.bulk_create(
        ActivityEvent(customer=customer, kind="payment", action="payment.succeeded", source="system",
                      summary="Renewal charged", created_at=now - timedelta(days=1, minutes=i))
        for i in range(events))


# ---- Tests -----------------------------------------------------------------------------------------------------
HTMX = {"HX-Request": "true", "HX-Target": "profile-tabs"}


def profile_url(customer, tab=None):
    if tab is None:
        return reverse("customers:profile", kwargs={"public_id": customer.public_id})
    return reverse("customers:profile_tab", kwargs={"public_id": customer.public_id, "tab": tab})


@pytest.fixture
def customer(db):
    return make_customer()


def text(response) -> str:
    return response.content.decode()


def test_it_shows_the_overview_header(agent_client, customer):
    response = agent_client.get(profile_url(customer))
    assert response.status_code == 200
    page = text(response)
    for expected in ("Ada Lovelace", customer.email, "+44 20 7946 0018", "12 Analytical Row, N1 9GU London",
                     "United Kingdom", "Web", "Pro Monthly", "Renews", "$25.00",  # MRR
                     "$1,234.56", "$1,300.00", "in 52 payments", "$7.00",  # LTV, total paid, credit 10.00 - 3.00
                     "At-Risk", "A payment failed in the last 30 days", "vip", "beta tester"):
        assert expected in page, expected
    assert f'data-copy="{customer.public_id}"' in page
    assert f'data-copy="{customer.email}"' in page
    assert 'class="status status-active">Active' in page
    assert customer.registered_at.strftime("%Y-%m-%d") in page


def test_a_trial_shows_in_the_header_with_its_end_date_and_the_price_after_it(agent_client):
    customer = make_customer(live_status=Subscription.Status.TRIAL)
    page = text(agent_client.get(profile_url(customer)))
    title = page[page.index('<div class="profile-title">'):page.index('<div class="profile-contact">')]
    ends = customer.trial_ends_at.strftime("%Y-%m-%d")
    assert 'class="status status-active">Active' in title and 'status-trial state-marker">Trial' in title
    assert f'ends <time datetime="{customer.trial_ends_at.isoformat()}" data-local="date">{ends}</time>' in title
    assert "$0.00" in page and "during the trial; $25.00 a month once it converts" in page


def _in_dunning(customer, *, failed_at, next_retry_at):
    """The live subscription's unpaid invoice, as the billing job leaves it after a failed charge."""
    subscription = customer.subscriptions.get(status=Subscription.Status.GRACE)
    InvoiceFactory(customer=customer, subscription=subscription, status="open", payment_failed_at=failed_at,
                   next_retry_at=next_retry_at)
    customer_refresh_derived_state(customer)
    return Customer.objects.get(pk=customer.pk)


def test_grace_shows_when_the_payment_failed_and_the_next_retry(agent_client, settings):
    settings.PORTAL = {**settings.PORTAL, "DUNNING_RETRY_DAYS": [1, 3, 5, 7]}
    failed = datetime(2026, 11, 27, 9, 30, tzinfo=dt_timezone.utc)
    customer = _in_dunning(make_customer(live_status=Subscription.Status.GRACE), failed_at=failed,
                           next_retry_at=datetime(2026, 12, 3, 9, 30, tzinfo=dt_timezone.utc))
    page = " ".join(re.sub(r"<[^>]+>", "", text(agent_client.get(profile_url(customer)))).split())
    assert customer.payment_failing_since == failed
    assert "Grace payment failing since 2026-11-27, access until 2026-12-04" in page
    assert page.count("Payment failed on 27 Nov; next retry Thu 3 Dec") == 2  # the header and the Subscriptions tab


def test_grace_after_a_hard_decline_says_no_retry_until_the_card_changes(agent_client):
    failed = datetime(2026, 11, 27, 9, 30, tzinfo=dt_timezone.utc)
    customer = _in_dunning(make_customer(live_status=Subscription.Status.GRACE), failed_at=failed, next_retry_at=None)
    page = " ".join(re.sub(r"<[^>]+>", "", text(agent_client.get(profile_url(customer)))).split())
    assert page.count("Payment failed on 27 Nov; no retry until the card changes") == 2


def test_paused_shows_the_resume_date(agent_client):
    customer = make_customer(live_status=Subscription.Status.PAUSED)
    customer.subscriptions.filter(status="paused").update(resume_on="2031-02-03")
    customer_refresh_derived_state(customer)
    page = " ".join(re.sub(r"<[^>]+>", "", text(agent_client.get(profile_url(customer)))).split())
    assert "Paused resumes 2031-02-03" in page and "Resumes 2031-02-03" in page and "while paused" in page


def test_the_header_is_still_one_query(db):
    customer = make_customer(live_status=Subscription.Status.TRIAL)
    with CaptureQueriesContext(connection) as captured:
        overview = profile_overview(customer.public_id)
    assert len(captured.captured_queries) == 1
    assert overview.customer.subscription_state == "trial" and overview.customer.trial_ends_at is not None


def test_it_defaults_to_the_subscriptions_tab_and_marks_it_selected(agent_client, customer):
    page = text(agent_client.get(profile_url(customer)))
    assert re.search(r'id="tab-subscriptions"\s+aria-selected="true"', page)
    assert re.search(r'id="tab-payments"\s+aria-selected="false"', page)


@pytest.mark.parametrize("live_status", Subscription.LIVE_STATUSES)
def test_subscriptions_tab_shows_every_status(agent_client, live_status):
    customer = make_customer(live_status=live_status)
    page = text(agent_client.get(profile_url(customer, "subscriptions")))
    for status in (live_status, *PAST_STATUSES):
        label = Subscription.Status(status).label
        assert f'<span class="status status-{status}">{label}</span>' in page
    assert page.count('class="row-ended"') == 2  # cancelled and expired are de-emphasised
    assert "Visa •••• 4242" in page
    assert "4242" in page and "$25.00" in page and "Basic Yearly" in page
    for sub in customer.subscriptions.all():
        assert sub.public_id in page


def test_payments_tab_shows_every_status_with_method_and_invoice_link(agent_client, customer):
    page = text(agent_client.get(profile_url(customer, "payments")))
    for status, label in (("succeeded", "Succeeded"), ("failed", "Failed"), ("refunded", "Refunded"),
                          ("partially_refunded", "Partially refunded"), ("pending", "Pending")):
        assert f'<span class="status status-{status}">{label}</span>' in page
    assert "Card declined" in page
    assert "−$10.00 refunded" in page
    payment = customer.payments.select_related("invoice").first()
    assert reverse("payments:invoice", kwargs={"public_id": payment.invoice.public_id}) in page
    assert payment.invoice.number in page


def test_payments_tab_pages_through_history_with_a_cursor(agent_client, customer):
    add_history(customer, payments=40, events=0)
    total = customer.payments.count()  # the fixture's one per payment status, and these
    page = text(agent_client.get(profile_url(customer, "payments")))
    seen, sizes = [], []
    while True:
        ids = re.findall(r'data-copy="(pay_\w+)"', page)
        seen += ids
        sizes.append(len(ids))
        more = re.search(r'href="([^"]+\?cursor=[^"]+)"', page)
        if more is None:
            break
        response = agent_client.get(more.group(1), headers={"HX-Request": "true", "HX-Target": "payments-more"})
        page = text(response)
        assert 'id="profile-header"' not in page and "<thead>" not in page  # only more rows
    assert sizes == [PAGE_SIZE, PAGE_SIZE, total - 2 * PAGE_SIZE]
    assert len(set(seen)) == len(seen) == total
    created = dict(customer.payments.values_list("public_id", "created_at"))
    assert [created[i] for i in seen] == sorted(created.values(), reverse=True)  # newest first throughout


@pytest.mark.parametrize("cursor", ["%%%not-a-cursor", "MTcwMDAwMDAwMDAwMDAwMC40Mg", "x" * 5000])
def test_a_broken_cursor_starts_from_the_newest(agent_client, customer, cursor):
    response = agent_client.get(profile_url(customer, "payments"), {"cursor": cursor})
    assert response.status_code == 200
    assert "Succeeded" in text(response)


def test_an_edited_or_foreign_cursor_starts_from_the_newest(agent_client, customer):
    from customers.selectors.profile import CURSOR_SALT
    from portal.cursors import encode_cursor

    add_history(customer, payments=40, events=0)
    newest = re.findall(r'data-copy="(pay_\w+)"', text(agent_client.get(profile_url(customer, "payments"))))
    cursor = re.search(r'\?cursor=([^"&]+)"', text(agent_client.get(profile_url(customer, "payments")))).group(1)
    payload, _, signature = cursor.rpartition(".")
    for edited in (payload[:-2] + "AA." + signature,  # tampered
                   encode_cursor([0, 1], salt="customers.directory"),  # another list's
                   encode_cursor(["2024-01-01", 1], salt=CURSOR_SALT),  # signed, but not (microseconds, id)
                   encode_cursor([10**20, 1], salt=CURSOR_SALT)):  # signed, but no date
        page = text(agent_client.get(profile_url(customer, "payments"), {"cursor": edited}))
        assert re.findall(r'data-copy="(pay_\w+)"', page) == newest


def test_activity_tab_shows_kinds_actor_source_newest_first(agent_client, customer):
    page = text(agent_client.get(profile_url(customer, "activity")))
    summaries = re.findall(r'class="timeline-summary">([^<]+)<', page)
    assert summaries == [f"Example {kind} event" for kind in ActivityEvent.Kind.values]  # created newest first
    for source in ("by the system", "in the portal", "through the API", "by a bulk job", "by a scheduled task"):
        assert source in page
    assert re.search(r'<time data-local datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.\d]*\+00:00">', page)


def test_activity_tab_filters_by_kind(agent_client, customer):
    response = agent_client.get(profile_url(customer, "activity") + "?kind=campaign", headers=HTMX)
    summaries = re.findall(r'class="timeline-summary">([^<]+)<', text(response))
    assert summaries == ["Example campaign event"]
    assert 'aria-current="true">Campaign' in text(response)


def test_activity_tab_pages_and_keeps_the_filter(agent_client, customer):
    add_history(customer, payments=0, events=30)
    page = text(agent_client.get(profile_url(customer, "activity") + "?kind=payment"))
    more = re.search(r'href="([^"]+\?kind=payment&amp;cursor=[^"]+)"', page)
    assert more is not None
    rest = text(agent_client.get(more.group(1).replace("&amp;", "&"),
                                 headers={"HX-Request": "true", "HX-Target": "activity-more"}))
    assert len(re.findall(r'class="timeline-summary"', page)) == PAGE_SIZE
    assert len(re.findall(r'class="timeline-summary"', rest)) == 31 - PAGE_SIZE  # 30 bulk + 1 example event
    assert "Example campaign event" not in page + rest


def test_notes_tab_shows_author_time_and_escapes_html(agent_client, customer, agent):
    NoteFactory(customer=customer, author=agent, body='<script>alert("x")</script> **bold** <b>b</b>')
    page = text(agent_client.get(profile_url(customer, "notes")))
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; **bold** &lt;b&gt;b&lt;/b&gt;" in page
    assert "<script>alert" not in page
    assert "Prefers email over phone." in page
    assert ">agent</span>" in page


def test_htmx_tab_request_renders_only_the_tab_area(agent_client, customer):
    response = agent_client.get(profile_url(customer, "payments"), headers=HTMX)
    page = text(response)
    assert page.lstrip().startswith('<div id="profile-tabs"')
    assert 'id="profile-header"' not in page and "<html" not in page
    assert re.search(r'id="tab-payments"\s+aria-selected="true"', page)
    assert "HX-Request" in response["Vary"]


def test_history_restore_gets_the_full_page(agent_client, customer):
    response = agent_client.get(profile_url(customer, "payments"),
                                headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in text(response) and 'id="profile-header"' in text(response)


@pytest.mark.parametrize("tab", [None, "subscriptions", "payments", "activity", "notes"])
def test_every_view_writes_one_access_log_row(agent_client, agent, customer, tab):
    agent_client.get(profile_url(customer, tab))
    agent_client.get(profile_url(customer, tab or "subscriptions"), headers=HTMX)
    rows = list(AccessLog.objects.filter(customer=customer).order_by("id").values_list("user", "view"))
    page_view = f"customers:profile_tab:{tab}" if tab else "customers:profile"
    assert rows == [(agent.pk, page_view), (agent.pk, f"customers:profile_tab:{tab or 'subscriptions'}")]


@pytest.mark.parametrize("tab", ["subscriptions", "payments", "activity", "notes"])
def test_query_count_is_constant_whatever_the_history(agent_client, tab, django_assert_max_num_queries):
    small = make_customer()
    big = make_customer(email="big@example.com")
    add_history(big, payments=500, events=2000)
    agent_client.get(profile_url(small, tab))  # warm the session
    with CaptureQueriesContext(connection) as small_queries:
        assert agent_client.get(profile_url(small, tab)).status_code == 200
    with django_assert_max_num_queries(10):
        response = agent_client.get(profile_url(big, tab))
    assert response.status_code == 200
    with CaptureQueriesContext(connection) as big_queries:
        agent_client.get(profile_url(big, tab))
    assert len(big_queries) == len(small_queries)


def test_unknown_customer_gets_the_404_page(agent_client):
    for url in ("/customers/cus_doesnotexist0000/", "/customers/cus_doesnotexist0000/payments/", "/customers/nope/"):
        response = agent_client.get(url)
        assert response.status_code == 404
        assert "Nothing here" in text(response)
    assert AccessLog.objects.count() == 0


def test_unknown_tab_is_404(agent_client, customer):
    assert agent_client.get(f"/customers/{customer.public_id}/secrets/").status_code == 404


def test_user_without_a_role_gets_403(outsider, client_for, customer):
    response = client_for(outsider).get(profile_url(customer))
    assert response.status_code == 403
    assert client_for(outsider).get("/customers/cus_doesnotexist0000/").status_code == 403  # no existence leak
    assert AccessLog.objects.count() == 0


def test_anonymous_is_sent_to_login(client, customer):
    response = client.get(profile_url(customer))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("persona", ["agent", "manager", "admin_user"])
def test_every_role_can_read_and_edit(request, persona, client_for, customer):
    user = request.getfixturevalue(persona)
    page = text(client_for(user).get(profile_url(customer, "notes")))
    assert "Edit profile" in page and 'id="note-form"' in page and 'class="tag-add"' in page


def test_read_only_role_sees_no_edit_controls(viewer, client_for, customer):
    page = text(client_for(viewer).get(profile_url(customer, "notes")))
    assert "Ada Lovelace" in page
    assert "Edit profile" not in page and 'id="note-form"' not in page and 'class="tag-add"' not in page
    assert 'class="tag-remove"' not in page


def test_other_htmx_requests_get_the_full_page(agent_client, customer):
    response = agent_client.get(profile_url(customer, "payments"), headers={"HX-Request": "true", "HX-Target": "main"})
    assert "<html" in text(response) and 'id="profile-header"' in text(response)


@pytest.mark.parametrize("persona", ["agent", "manager", "admin_user", "outsider", "viewer"])
def test_roles_loaded_in_one_query_answer_like_django(request, persona, django_assert_num_queries):
    from django.contrib.auth import get_user_model

    from portal.roles import CAPABILITIES, has_capability, load_roles, role_of

    user_id = request.getfixturevalue(persona).pk
    if persona == "manager":  # a direct permission too, besides the group's
        get_user_model().objects.get(pk=user_id).user_permissions.add(Permission.objects.get(codename="configure"))
    expected = get_user_model().objects.get(pk=user_id)
    # Django's own answer: ModelBackend's queries, not ours
    expected_caps = {code: expected.is_active and expected.has_perm(f"portal.{code}") for code in CAPABILITIES}
    expected_role = role_of(expected)
    user = get_user_model().objects.get(pk=user_id)
    with django_assert_num_queries(1):
        load_roles(user)
    with django_assert_num_queries(0):
        assert {code: has_capability(user, code) for code in CAPABILITIES} == expected_caps
        assert role_of(user) == expected_role
