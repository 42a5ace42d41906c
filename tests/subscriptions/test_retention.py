"""Retention offers: the routing table (reason → offer, fallbacks, settings), what accepting and declining do, the
report's figures, and an offer recorded once however often its dialog step is shown."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from customers.models import ActivityEvent
from portal.errors import DomainError
from portal.models import AuditEvent
from subscriptions.models import RetentionOffer, Subscription
from subscriptions.retention import (
    add_months, offer_for, retention_offer_accept, retention_offer_decline, retention_offer_make,
)
from subscriptions.selectors import retention_report
from tests.subscriptions.catalog import catalogue, subscribed

pytestmark = pytest.mark.django_db
Reason = Subscription.CancelReason


@pytest.fixture
def plans(db):
    return catalogue()


@pytest.fixture
def subscription(plans):
    return subscribed(plans["standard"])


# ---- Routing ---------------------------------------------------------------------------------------------------

EXPECTED = {  # on Standard ($12.99/month), active; Basic ($7.99) is the cheapest cheaper plan
    Reason.NOT_USING: ("pause", {"months": 1}, 1299),
    Reason.TOO_EXPENSIVE: ("downgrade", {"plan": "basic-monthly", "price": 799}, 799),
    Reason.MISSING_FEATURE: ("discount", {"percent": 20, "cycles": 3}, 1039),
    Reason.SWITCHING: ("discount", {"percent": 20, "cycles": 3}, 1039),
    Reason.TECHNICAL: None,
    Reason.OTHER: None,
}


def test_the_table_covers_every_reason():
    assert set(EXPECTED) == set(Reason.values)


@pytest.mark.parametrize("reason", list(EXPECTED))
def test_each_reason_gets_its_offer(subscription, reason):
    offer = offer_for(subscription, reason)
    expected = EXPECTED[reason]
    if expected is None:
        assert offer is None
        return
    kind, terms, mrr_saved = expected
    assert (offer.kind, offer.terms, offer.mrr_saved, offer.currency) == (kind, terms, mrr_saved, "USD")
    assert offer.sentence.startswith("Offer ")


def test_the_sentences_say_what_to_offer(subscription):
    assert offer_for(subscription, Reason.NOT_USING).sentence.startswith("Offer a pause of 1 month instead")
    assert offer_for(subscription, Reason.TOO_EXPENSIVE).sentence == (
        "Offer Basic at $7.99 a month from the next renewal, instead of cancelling.")
    assert offer_for(subscription, Reason.MISSING_FEATURE).sentence == "Offer 20% off the next 3 renewals instead."


def test_too_expensive_picks_the_cheapest_cheaper_plan_of_the_same_currency_and_interval(plans):
    from tests.factories import PlanFactory

    PlanFactory(code="mini-monthly", name="Mini", price=499, rank=0)
    PlanFactory(code="retired-monthly", name="Retired", price=299, rank=0, is_active=False)
    PlanFactory(code="mini-yearly", name="Mini yearly", price=100, rank=0, interval="year")
    PlanFactory(code="mini-eur", name="Mini (EUR)", price=99, rank=0, currency="EUR")
    offer = offer_for(subscribed(plans["premium"]), Reason.TOO_EXPENSIVE)
    assert (offer.kind, offer.terms["plan"], offer.mrr_saved) == ("downgrade", "mini-monthly", 499)


def test_too_expensive_on_the_cheapest_plan_falls_back_to_a_discount(plans):
    offer = offer_for(subscribed(plans["basic"]), Reason.TOO_EXPENSIVE)
    assert (offer.kind, offer.terms, offer.mrr_saved) == ("discount", {"percent": 20, "cycles": 3}, 639)


def test_a_trial_cannot_pause_so_not_using_gets_a_discount(plans):
    offer = offer_for(subscribed(plans["standard"], status="trial"), Reason.NOT_USING)
    assert offer.kind == "discount"


def test_a_running_discount_is_not_offered_again(plans):
    subscription = subscribed(plans["standard"], discount_percent=20, discount_cycles_left=2)
    assert offer_for(subscription, Reason.MISSING_FEATURE) is None


def test_yearly_plans_count_their_monthly_revenue(plans):
    offer = offer_for(subscribed(plans["standard_yearly"]), Reason.NOT_USING)
    assert (offer.kind, offer.mrr_saved) == ("pause", 12990 // 12)


def test_settings_reroute_reasons_and_set_the_discount(subscription, settings):
    settings.RETENTION_OFFERS = {"technical": "discount", "not_using": "none", "switching": "downgrade"}
    settings.RETENTION_DISCOUNT_PERCENT, settings.RETENTION_DISCOUNT_CYCLES = 30, 2
    assert offer_for(subscription, Reason.NOT_USING) is None
    technical = offer_for(subscription, Reason.TECHNICAL)
    assert (technical.kind, technical.terms, technical.mrr_saved) == ("discount", {"percent": 30, "cycles": 2}, 909)
    assert offer_for(subscription, Reason.SWITCHING).kind == "downgrade"
    assert offer_for(subscription, Reason.MISSING_FEATURE).kind == "discount"  # not configured: its default


def test_the_setting_is_read_from_the_environment_text():
    from portal.settings import _retention_offers

    assert _retention_offers("missing_feature=discount, technical=none,,switching = discount") == {
        "missing_feature": "discount", "technical": "none", "switching": "discount"}
    assert _retention_offers("") == {}


@pytest.mark.parametrize("configured", [{"bored": "pause"}, {"technical": "hug"}])
def test_a_misconfigured_route_is_refused_with_a_sentence(subscription, settings, configured):
    settings.RETENTION_OFFERS = configured
    with pytest.raises(ImproperlyConfigured, match="RETENTION_OFFERS"):
        offer_for(subscription, Reason.OTHER)


def test_the_pause_offered_follows_the_settings(subscription, settings):
    settings.RETENTION_PAUSE_MONTHS, settings.RETENTION_PAUSE_MAX_MONTHS = 2, 6
    offer = offer_for(subscription, Reason.NOT_USING)
    assert offer.terms == {"months": 2} and "up to 6 months" in offer.sentence


# ---- Making, accepting, declining ------------------------------------------------------------------------------

def test_making_an_offer_records_it_with_an_audit_row_and_a_timeline_entry(subscription, agent):
    offer = retention_offer_make(subscription=subscription, reason=Reason.NOT_USING, actor=agent)
    assert (offer.kind, offer.status, offer.terms, offer.mrr_saved, offer.currency, offer.created_by) == (
        "pause", "offered", {"months": 1}, 1299, "USD", agent)
    event = AuditEvent.objects.get(action="subscriptions.retention_offer.made")
    assert event.data["subscription"] == subscription.public_id and event.data["kind"] == "pause"
    entry = ActivityEvent.objects.get(customer=subscription.customer, action="retention_offer.made")
    assert entry.summary == "Asked to cancel (Not using it): offered a pause of 1 month."


def test_a_reason_without_an_offer_is_still_counted_as_a_request(subscription, agent):
    offer = retention_offer_make(subscription=subscription, reason=Reason.TECHNICAL, actor=agent)
    assert (offer.kind, offer.terms, offer.mrr_saved) == ("none", {}, 0)
    assert ActivityEvent.objects.get(action="retention_offer.made").summary == (
        "Asked to cancel (Technical problem): no retention offer for this reason.")


def test_the_same_dialog_shown_twice_records_one_offer(subscription, agent):
    first = retention_offer_make(subscription=subscription, reason=Reason.NOT_USING, actor=agent,
                                 request_key="form:1:abc:offer:not_using")
    again = retention_offer_make(subscription=subscription, reason=Reason.NOT_USING, actor=agent,
                                 request_key="form:1:abc:offer:not_using")
    assert again.pk == first.pk
    assert RetentionOffer.objects.count() == 1
    assert AuditEvent.objects.filter(action="subscriptions.retention_offer.made").count() == 1
    retention_offer_make(subscription=subscription, reason=Reason.NOT_USING, actor=agent,
                         request_key="form:1:def:offer:not_using")
    assert RetentionOffer.objects.count() == 2  # another dialog: another request


def test_a_key_used_for_another_subscription_is_refused(subscription, plans, agent):
    retention_offer_make(subscription=subscription, reason=Reason.OTHER, actor=agent, request_key="form:1:k")
    with pytest.raises(DomainError) as refused:
        retention_offer_make(subscription=subscribed(plans["basic"]), reason=Reason.OTHER, actor=agent,
                             request_key="form:1:k")
    assert refused.value.code == "request_key_reused"


def test_no_offer_for_a_subscription_that_cannot_be_cancelled(plans, agent):
    with pytest.raises(DomainError, match="already cancelled"):
        retention_offer_make(subscription=subscribed(plans["standard"], status="cancelled"),
                             reason=Reason.NOT_USING, actor=agent)
    assert not RetentionOffer.objects.exists()


def test_accepting_a_pause_pauses_until_the_chosen_month(subscription, agent):
    offer = retention_offer_make(subscription=subscription, reason=Reason.NOT_USING, actor=agent)
    accepted = retention_offer_accept(offer=offer, actor=agent, months=2)
    subscription.refresh_from_db()
    assert (subscription.status, subscription.resume_on) == ("paused", add_months(timezone.localdate(), 2))
    assert (accepted.status, accepted.terms, accepted.mrr_saved) == ("accepted", {"months": 2}, 1299)
    assert accepted.decided_at is not None
    assert subscription.customer.__class__.objects.get(pk=subscription.customer_id).subscription_state == "paused"
    summaries = list(ActivityEvent.objects.filter(customer=subscription.customer).values_list("action", flat=True))
    assert "retention_offer.accepted" in summaries and "subscription.paused" in summaries


def test_accepting_a_downgrade_schedules_the_cheaper_plan_at_renewal(subscription, plans, agent):
    offer = retention_offer_make(subscription=subscription, reason=Reason.TOO_EXPENSIVE, actor=agent)
    retention_offer_accept(offer=offer, actor=agent)
    subscription.refresh_from_db()
    assert (subscription.status, subscription.plan, subscription.scheduled_plan) == (
        "active", plans["standard"], plans["basic"])


def test_accepting_a_discount_sets_it_for_the_billing_job(subscription, agent):
    offer = retention_offer_make(subscription=subscription, reason=Reason.MISSING_FEATURE, actor=agent)
    retention_offer_accept(offer=offer, actor=agent)
    subscription.refresh_from_db()
    assert (subscription.discount_percent, subscription.discount_cycles_left, subscription.status) == (20, 3, "active")
    event = AuditEvent.objects.get(action="subscriptions.subscription.discount_granted")
    assert event.after == {"discount_percent": 20, "discount_cycles_left": 3}


def test_accepting_twice_carries_it_out_once(subscription, agent):
    offer = retention_offer_make(subscription=subscription, reason=Reason.MISSING_FEATURE, actor=agent)
    retention_offer_accept(offer=offer, actor=agent)
    retention_offer_accept(offer=offer, actor=agent)
    assert AuditEvent.objects.filter(action="subscriptions.retention_offer.accepted").count() == 1


def test_a_pause_longer_than_the_settings_allow_is_refused_and_changes_nothing(subscription, agent):
    offer = retention_offer_make(subscription=subscription, reason=Reason.NOT_USING, actor=agent)
    with pytest.raises(DomainError) as refused:
        retention_offer_accept(offer=offer, actor=agent, months=4)
    assert refused.value.code == "invalid_months"
    subscription.refresh_from_db()
    offer.refresh_from_db()
    assert (subscription.status, offer.status) == ("active", "offered")


def test_a_refusal_of_the_action_leaves_the_offer_open(subscription, agent):
    offer = retention_offer_make(subscription=subscription, reason=Reason.NOT_USING, actor=agent)
    Subscription.objects.filter(pk=subscription.pk).update(status="grace")  # the renewal failed meanwhile
    with pytest.raises(DomainError, match="failing"):
        retention_offer_accept(offer=offer, actor=agent)
    offer.refresh_from_db()
    assert offer.status == "offered"


def test_declining_records_it_and_changes_nothing_else(subscription, agent):
    offer = retention_offer_make(subscription=subscription, reason=Reason.NOT_USING, actor=agent)
    declined = retention_offer_decline(offer=offer, actor=agent)
    subscription.refresh_from_db()
    assert (declined.status, subscription.status) == ("declined", "active")
    assert ActivityEvent.objects.filter(action="retention_offer.declined").get().summary == (
        "Retention offer declined (Not using it): a pause of 1 month.")


def test_an_accepted_offer_cannot_be_declined_and_no_offer_cannot_be_accepted(subscription, agent):
    offer = retention_offer_make(subscription=subscription, reason=Reason.MISSING_FEATURE, actor=agent)
    retention_offer_accept(offer=offer, actor=agent)
    with pytest.raises(DomainError, match="already accepted"):
        retention_offer_decline(offer=offer, actor=agent)
    nothing = retention_offer_make(subscription=subscription, reason=Reason.OTHER, actor=agent)
    with pytest.raises(DomainError) as refused:
        retention_offer_accept(offer=nothing, actor=agent)
    assert refused.value.code == "no_offer"


def test_a_declined_offer_may_still_be_accepted(subscription, agent):
    offer = retention_offer_make(subscription=subscription, reason=Reason.NOT_USING, actor=agent)
    retention_offer_decline(offer=offer, actor=agent)
    assert retention_offer_accept(offer=offer, actor=agent).status == "accepted"


# ---- Report ----------------------------------------------------------------------------------------------------

def _offer(subscription, reason, kind, status, mrr_saved, *, currency="USD", days_ago=1):
    return RetentionOffer.objects.create(subscription=subscription, reason=reason, kind=kind, status=status,
                                         mrr_saved=mrr_saved, currency=currency,
                                         created_at=timezone.now() - timedelta(days=days_ago))


def test_the_report_counts_requests_offers_acceptances_and_revenue_saved_by_reason(subscription, plans, settings):
    settings.EXCHANGE_RATES = {"EUR": Decimal("1.10")}
    euro = subscribed(plans["basic_eur"])
    _offer(subscription, "not_using", "pause", "accepted", 1299)
    _offer(subscription, "not_using", "pause", "declined", 1299)
    _offer(euro, "not_using", "pause", "accepted", 699, currency="EUR")
    _offer(subscription, "not_using", "pause", "offered", 1299)
    _offer(subscription, "too_expensive", "downgrade", "accepted", 799)
    _offer(subscription, "too_expensive", "discount", "declined", 1039)
    _offer(subscription, "technical", "none", "declined", 0)
    _offer(subscription, "technical", "none", "offered", 0)
    _offer(subscription, "not_using", "pause", "accepted", 1299, days_ago=45)  # only in the 90-day report

    report = retention_report(days=30)
    rows = {row.reason: row for row in report.rows}
    assert [row.reason for row in report.rows] == list(Reason.values)
    not_using = rows["not_using"]
    assert (not_using.requests, not_using.offers, not_using.accepted, not_using.declined) == (4, 4, 2, 1)
    assert not_using.acceptance_rate == 0.5
    assert not_using.saved == 1299 + 769  # €6.99 at 1.10 = $7.69
    too_expensive = rows["too_expensive"]
    assert (too_expensive.requests, too_expensive.offers, too_expensive.accepted, too_expensive.saved) == (
        2, 2, 1, 799)
    assert too_expensive.kinds == {"downgrade": 1, "discount": 1}
    technical = rows["technical"]
    assert (technical.requests, technical.offers, technical.acceptance_rate, technical.saved) == (2, 0, None, 0)
    assert (report.total.requests, report.total.offers, report.total.accepted, report.total.saved) == (
        8, 6, 3, 1299 + 769 + 799)
    assert report.currency == "USD" and report.missing_rates == []

    ninety = {row.reason: row for row in retention_report(days=90).rows}
    assert (ninety["not_using"].requests, ninety["not_using"].accepted) == (5, 3)


def test_revenue_in_a_currency_without_a_rate_is_left_out_and_named(subscription, plans, settings):
    euro = subscribed(plans["basic_eur"])
    settings.EXCHANGE_RATES = {}
    _offer(euro, "not_using", "pause", "accepted", 699, currency="EUR")
    _offer(subscription, "not_using", "pause", "accepted", 1299)
    report = retention_report(days=30)
    assert (report.total.accepted, report.total.saved, report.missing_rates) == (2, 1299, ["EUR"])


def test_the_report_follows_the_services(subscription, agent):
    accepted = retention_offer_make(subscription=subscription, reason=Reason.MISSING_FEATURE, actor=agent)
    retention_offer_accept(offer=accepted, actor=agent)
    declined = retention_offer_make(subscription=subscription, reason=Reason.NOT_USING, actor=agent)
    retention_offer_decline(offer=declined, actor=agent)
    rows = {row.reason: row for row in retention_report(days=30).rows}
    assert (rows["missing_feature"].accepted, rows["missing_feature"].saved) == (1, 1039)
    assert (rows["not_using"].offers, rows["not_using"].accepted, rows["not_using"].saved) == (1, 0, 0)


def test_the_report_says_what_each_reason_is_offered(settings):
    settings.RETENTION_OFFERS = {"other": "pause"}
    settings.RETENTION_PAUSE_MONTHS = settings.RETENTION_PAUSE_MAX_MONTHS = 2
    routes = {row.reason: row.route for row in retention_report(days=30).rows}
    assert routes == {"too_expensive": "A cheaper plan, else 20% off 3 renewals",
                      "not_using": "A pause of 2 months, else 20% off 3 renewals",
                      "missing_feature": "20% off 3 renewals", "switching": "20% off 3 renewals",
                      "technical": "No offer", "other": "A pause of 2 months, else 20% off 3 renewals"}
