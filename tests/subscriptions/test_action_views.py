"""The subscription dialogs and the Subscriptions tab's action menu: every dialog previews before it confirms, a
confirm changes the subscription and says so, refused actions are shown disabled with their sentence, the roles,
the methods, bad input, the cancel steps with their retention offer, the tab's query budget, the report page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.models import Payment
from portal.models import AccessLog
from subscriptions.models import RetentionOffer, Subscription
from subscriptions.retention import add_months
from subscriptions.services import action_verdicts
from tests.factories import PaymentFactory
from tests.subscriptions.catalog import catalogue, subscribed

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
TOKEN = "a" * 32


@pytest.fixture
def plans(db):
    return catalogue()


@pytest.fixture
def subscription(plans):
    return subscribed(plans["standard"])


def url(name, subscription, **kwargs):
    return reverse(f"subscriptions:{name}", kwargs={"public_id": subscription.public_id, **kwargs})


def tab_url(subscription):
    return reverse("customers:profile_tab", kwargs={"public_id": subscription.customer.public_id,
                                                    "tab": "subscriptions"})


def text(response) -> str:
    return response.content.decode()


def flashed(client, subscription) -> str:
    """The page the dialog's success redirects to, with the flashed message."""
    return text(client.get(tab_url(subscription)))


def toast(client, subscription) -> str:
    """The flashed message alone."""
    found = re.search(r'<div class="toast-message[^>]*>\s*<span>(.*?)</span>', flashed(client, subscription), re.S)
    return found.group(1).replace("&#x27;", "'") if found else ""


# ---- Each dialog shows the preview before anything is confirmed ------------------------------------------------

DIALOGS = [  # (action, state, fields of the subscription, what the preview says)
    ("plan", "active", {}, ["</strong> charged", "Next invoice", "$12.99 → $19.99", "+$7.00"]),
    ("pause", "active", {}, ["Nothing charged", "$12.99 → $0.00"]),
    ("resume", "paused", {}, ["Next invoice", "$0.00 → $12.99", "+$12.99"]),
    ("keep", "active", {"cancel_at_period_end": True}, ["Nothing charged", "Next invoice", "$12.99"]),
    ("extend-trial", "trial", {}, ["Nothing charged", "Next invoice", "$0.00 → $0.00"]),
]


@pytest.mark.parametrize(("action", "state", "fields", "says"), DIALOGS, ids=[d[0] for d in DIALOGS])
def test_every_dialog_opens_on_its_preview(agent_client, plans, action, state, fields, says):
    subscription = subscribed(plans["standard"], status=state, **fields)
    response = agent_client.get(url("action", subscription, action=action), headers=HTMX)
    assert response.status_code == 200
    body = text(response)
    assert 'id="subscription-impact" class="impact-preview"' in body
    for words in says:
        assert words in body
    assert re.search(r'id="subscription-submit"(?![^>]*disabled)', body)
    assert "<html" not in body  # the dialog's body only


def test_without_javascript_a_dialog_is_a_page(agent_client, subscription):
    response = agent_client.get(url("action", subscription, action="pause"))
    assert response.status_code == 200 and "<html" in text(response) and "Back to Ada Lovelace" in text(response)


def test_the_plan_list_offers_the_same_currency_and_says_why_not_the_others(agent_client, subscription):
    body = text(agent_client.get(url("action", subscription, action="plan"), headers=HTMX))
    assert re.search(r'<option value="premium-monthly"\s+selected>Premium', body)  # the next plan up
    assert re.search(r'<option value="basic-monthly-eur" disabled>Basic \(EUR\).*billed in EUR; this subscription '
                     r'is billed in USD', body)
    assert re.search(r'<option value="standard-yearly" disabled>Standard yearly .*billed yearly', body)
    assert re.search(r'<option value="standard-monthly" disabled>Standard .*its current plan', body)


def test_the_preview_follows_the_inputs(agent_client, subscription):
    preview = url("action_preview", subscription, action="plan")
    down = text(agent_client.get(preview, {"plan": "basic-monthly", "when": ""},
                                 headers={**HTMX, "HX-Trigger-Name": "plan"}))
    assert "Changes to Basic on" in down and "$12.99 → $7.99" in down and "−$5.00" in down
    assert re.search(r'value="renewal"\s+checked', down)  # a downgrade defaults to the renewal
    now = text(agent_client.get(preview, {"plan": "basic-monthly", "when": "now"}, headers=HTMX))
    assert "</strong> credited" in now and re.search(r'value="now"\s+checked', now)


def test_a_refused_preview_says_why_and_disables_the_submit(agent_client, subscription, settings):
    settings.PORTAL = {**settings.PORTAL, "MAX_TRIAL_DAYS": 20}
    trial = subscribed(subscription.plan, status="trial")  # 14 days of trial so far
    body = text(agent_client.get(url("action_preview", trial, action="extend-trial"), {"days": "10"},
                                 headers=HTMX))
    assert "Not possible." in body and "at most 20 days" in body
    assert re.search(r'id="subscription-submit" disabled', body)


def test_a_request_that_would_change_nothing_says_so(agent_client, subscription):
    body = text(agent_client.get(url("action", subscription, action="keep"), headers=HTMX))
    assert "Nothing to do." in body and "not set to cancel" in body
    assert re.search(r'id="subscription-submit" disabled', body)


def test_an_incomplete_input_says_what_is_missing(agent_client, subscription):
    body = text(agent_client.get(url("action_preview", subscription, action="pause"), {"resume_on": "soon"},
                                 headers=HTMX))
    assert "Enter a date like 2027-01-31." in body and re.search(r'id="subscription-submit" disabled', body)


# ---- Confirming ------------------------------------------------------------------------------------------------

def test_an_upgrade_changes_the_plan_and_says_what_was_charged(agent_client, subscription, plans):
    response = agent_client.post(url("action_confirm", subscription, action="plan"),
                                 {"plan": "premium-monthly", "when": "now", "form_token": TOKEN}, headers=HTMX)
    assert response.status_code == 200 and response["HX-Redirect"] == tab_url(subscription)
    subscription.refresh_from_db()
    assert subscription.plan == plans["premium"]
    message = toast(agent_client, subscription)
    assert "Premium" in message and "$19.99" in message  # the next invoice, at the new price


def test_a_downgrade_at_renewal_is_scheduled_and_can_be_called_off(agent_client, subscription, plans):
    agent_client.post(url("action_confirm", subscription, action="plan"),
                      {"plan": "basic-monthly", "when": "", "form_token": TOKEN}, headers=HTMX)
    subscription.refresh_from_db()
    assert (subscription.plan, subscription.scheduled_plan) == (plans["standard"], plans["basic"])
    page = flashed(agent_client, subscription)
    assert "Changes to Basic on" in page and "Cancel the change" in page
    response = agent_client.post(url("scheduled_change_cancel", subscription), {"form_token": "b" * 32},
                                 headers=HTMX)
    assert response["HX-Redirect"] == tab_url(subscription)
    subscription.refresh_from_db()
    assert subscription.scheduled_plan is None
    message = toast(agent_client, subscription)
    assert "Basic" in message and "cancel" in message.lower()


@pytest.mark.parametrize(("action", "state", "fields", "data", "expect", "message"), [
    ("pause", "active", {}, {"resume_on": "{in_a_month}"}, {"status": "paused"}, r"(?i)paused until"),
    ("resume", "paused", {}, {}, {"status": "active"}, r"(?i)renews"),
    ("keep", "active", {"cancel_at_period_end": True}, {}, {"cancel_at_period_end": False}, r"(?i)kept|undone"),
    ("extend-trial", "trial", {}, {"days": "5"}, {"status": "trial"}, r"Trial extended by 5 days"),
], ids=["pause", "resume", "keep", "extend-trial"])
def test_each_confirm_changes_the_subscription_and_says_so(agent_client, plans, action, state, fields, data, expect,
                                                           message):
    subscription = subscribed(plans["standard"], status=state, **fields)
    trial_end = subscription.trial_end
    in_a_month = add_months(timezone.localdate(), 1).isoformat()
    data = {name: value.format(in_a_month=in_a_month) for name, value in data.items()}
    response = agent_client.post(url("action_confirm", subscription, action=action),
                                 {**data, "form_token": TOKEN}, headers=HTMX)
    assert response.status_code == 200 and "HX-Redirect" in response
    subscription.refresh_from_db()
    for name, value in expect.items():
        assert getattr(subscription, name) == value
    if action == "extend-trial":
        assert subscription.trial_end == trial_end + timedelta(days=5)
    if action == "pause":
        assert subscription.resume_on.isoformat() == in_a_month
    assert re.search(message, toast(agent_client, subscription))


def test_a_request_for_the_state_it_is_in_changes_nothing_and_says_so(agent_client, subscription):
    before = Subscription.objects.filter(pk=subscription.pk).values().get()
    response = agent_client.post(url("action_confirm", subscription, action="resume"), {"form_token": TOKEN},
                                 headers=HTMX)
    assert response["HX-Redirect"] == tab_url(subscription)
    assert "nothing changed" in toast(agent_client, subscription)
    assert Subscription.objects.filter(pk=subscription.pk).values().get() == before


def test_without_javascript_a_confirm_redirects_to_the_tab(agent_client, subscription):
    response = agent_client.post(url("action_confirm", subscription, action="pause"), {"form_token": TOKEN})
    assert response.status_code == 302 and response["Location"] == tab_url(subscription)


@pytest.mark.parametrize(("action", "data", "error"), [
    ("plan", {"plan": "no-such-plan"}, "Choose one of the plans listed"),
    ("plan", {"plan": "basic-monthly-eur"}, "Choose one of the plans listed"),
    ("plan", {"plan": "basic-monthly", "when": "tomorrow"}, "Choose now or at renewal."),
    ("plan", {"plan": "standard-yearly"}, "Choose one of the plans listed"),
    ("pause", {"resume_on": "2001-01-01"}, "The resume date must be after today"),
    ("pause", {"resume_on": "31/12/2030"}, "Enter a date like 2027-01-31."),
    ("extend-trial", {"days": "3"}, "Only a trial can be extended"),
    ("pause", {"form_token": "<bad>"}, "This form is damaged; reload the page."),
])
def test_bad_input_is_answered_422_in_the_dialog_and_changes_nothing(agent_client, subscription, action, data,
                                                                     error):
    before = Subscription.objects.filter(pk=subscription.pk).values().get()
    response = agent_client.post(url("action_confirm", subscription, action=action),
                                 {"form_token": TOKEN, **data}, headers=HTMX)
    assert response.status_code == 422
    assert error in text(response)
    assert 'id="subscription-form"' in text(response)
    assert Subscription.objects.filter(pk=subscription.pk).values().get() == before


def test_days_out_of_range_are_refused_on_the_field(agent_client, plans):
    trial = subscribed(plans["standard"], status="trial")
    response = agent_client.post(url("action_confirm", trial, action="extend-trial"),
                                 {"form_token": TOKEN, "days": "0"}, headers=HTMX)
    assert response.status_code == 422 and "Extend by at least one day." in text(response)


# ---- Cancel: reason → offer → accept, or decline → when → confirm -----------------------------------------------

def _reason(client, subscription, reason, token=TOKEN):
    return client.post(url("cancel_offer", subscription), {"reason": reason, "form_token": token}, headers=HTMX)


def test_the_cancel_dialog_asks_the_reason_first(agent_client, subscription):
    body = text(agent_client.get(url("cancel_new", subscription), headers=HTMX))
    for value, label in Subscription.CancelReason.choices:
        assert f'value="{value}"' in body and label in body
    assert "step 1 of 3" in body and not RetentionOffer.objects.exists()


def test_the_reason_step_shows_its_offer_and_records_it_once_per_dialog(agent_client, subscription):
    first = _reason(agent_client, subscription, "not_using")
    assert first.status_code == 200
    body = text(first)
    assert "Offer a pause of 1 month instead" in body and "Accept the offer" in body
    assert "Decline and continue to cancel" in body and "Keeps $12.99 of monthly revenue" in body
    _reason(agent_client, subscription, "not_using")  # the same dialog, the step shown again
    assert RetentionOffer.objects.count() == 1
    _reason(agent_client, subscription, "not_using", token="c" * 32)  # another dialog
    assert RetentionOffer.objects.count() == 2


def test_accepting_the_pause_pauses_with_a_resume_date(agent_client, subscription):
    _reason(agent_client, subscription, "not_using")
    response = agent_client.post(url("cancel_accept", subscription),
                                 {"reason": "not_using", "months": "2", "form_token": TOKEN}, headers=HTMX)
    assert response["HX-Redirect"] == tab_url(subscription)
    subscription.refresh_from_db()
    resume_on = add_months(timezone.localdate(), 2)
    assert (subscription.status, subscription.resume_on) == ("paused", resume_on)
    assert RetentionOffer.objects.get().status == "accepted"
    assert f"Kept: paused for 2 months; resumes on {resume_on:%-d %b %Y}" in flashed(agent_client, subscription)


def test_declining_goes_on_to_the_cancel_with_its_preview(agent_client, subscription):
    _reason(agent_client, subscription, "too_expensive")
    response = agent_client.post(url("cancel_decline", subscription),
                                 {"reason": "too_expensive", "form_token": TOKEN}, headers=HTMX)
    assert response.status_code == 200
    body = text(response)
    assert "step 3 of 3" in body and "Cancels on" in body and "$12.99 → $0.00" in body
    assert RetentionOffer.objects.get().status == "declined"
    confirm = agent_client.post(url("cancel_confirm", subscription),
                                {"reason": "too_expensive", "when": "period_end", "form_token": TOKEN},
                                headers=HTMX)
    assert confirm["HX-Redirect"] == tab_url(subscription)
    subscription.refresh_from_db()
    assert (subscription.cancel_at_period_end, subscription.cancel_reason) == (True, "too_expensive")
    page = flashed(agent_client, subscription)
    assert "Cancels on" in page and "Keep subscription…" in page


def test_a_reason_without_an_offer_goes_straight_to_the_cancel(agent_client, subscription):
    body = text(_reason(agent_client, subscription, "technical"))
    assert "step 3 of 3" in body and "no retention offer for this reason" in body
    assert RetentionOffer.objects.get().kind == "none"


def test_the_cancel_preview_follows_when(agent_client, subscription):
    body = text(agent_client.get(url("cancel_preview", subscription),
                                 {"reason": "other", "when": "now", "form_token": TOKEN}, headers=HTMX))
    assert re.search(r"Cancel(s|led) now", body) and "refund" in body
    assert "$12.99 → $0.00" in body and "Next invoice</dt><dd" in body


def test_a_paused_subscription_is_cancelled_now_by_default(agent_client, plans):
    paused = subscribed(plans["standard"], status="paused")
    body = text(_reason(agent_client, paused, "technical"))
    assert re.search(r'id="cancel-when-now" value="now" checked', body)


def test_a_cancel_blocked_by_a_pending_payment_offers_to_wait_for_it(agent_client, subscription):
    pending = PaymentFactory(customer=subscription.customer, status=Payment.Status.PENDING)
    tab = text(agent_client.get(tab_url(subscription)))
    assert "Cancel once it settles…" in tab and pending.public_id in tab
    assert "Cancel:</span>" not in tab  # the sentence starts with it already ("Cancel is blocked: …")
    body = text(_reason(agent_client, subscription, "other"))
    assert pending.public_id in body and "Not yet." in body and "Cancel once it settles" in body
    refused = agent_client.post(url("cancel_confirm", subscription),
                                {"reason": "other", "when": "now", "form_token": TOKEN}, headers=HTMX)
    assert refused.status_code == 422
    subscription.refresh_from_db()
    assert subscription.status == "active" and not subscription.cancel_after_settle
    waiting = agent_client.post(url("cancel_confirm", subscription),
                                {"reason": "other", "when": "now", "after_settle": "1", "form_token": TOKEN},
                                headers=HTMX)
    assert waiting["HX-Redirect"] == tab_url(subscription)
    subscription.refresh_from_db()
    assert (subscription.status, subscription.cancel_after_settle) == ("active", "now")
    page = flashed(agent_client, subscription)
    assert f"once <code>{pending.public_id}</code> settles" in page and "Keep subscription…" in page


def test_a_cancel_without_a_reason_is_asked_again(agent_client, subscription):
    response = agent_client.post(url("cancel_offer", subscription), {"form_token": TOKEN}, headers=HTMX)
    assert response.status_code == 422 and "Choose why the customer is cancelling." in text(response)
    assert not RetentionOffer.objects.exists()


def test_a_decision_about_an_offer_this_dialog_did_not_show_is_refused(agent_client, subscription):
    response = agent_client.post(url("cancel_accept", subscription),
                                 {"reason": "not_using", "form_token": "d" * 32}, headers=HTMX)
    assert response.status_code == 422 and "start the cancel again" in text(response)
    subscription.refresh_from_db()
    assert subscription.status == "active"


def test_an_ended_subscription_cannot_be_cancelled_and_the_dialog_says_why(agent_client, plans):
    ended = subscribed(plans["standard"], status="cancelled")
    body = text(agent_client.get(url("cancel_new", ended), headers=HTMX))
    assert "The subscription is already cancelled." in body and "Continue" not in body


# ---- The action menu on the Subscriptions tab ------------------------------------------------------------------

MENU_LABELS = {"change_plan": "Change plan…", "cancel": "Cancel…", "undo_cancel": "Keep subscription…",
               "pause": "Pause…", "resume": "Resume…", "extend_trial": "Extend trial…"}


@pytest.mark.parametrize("state", list(Subscription.Status.values))
def test_every_refused_action_is_shown_disabled_with_its_sentence(agent_client, agent, plans, state):
    subscription = subscribed(plans["standard"], status=state)
    body = text(agent_client.get(tab_url(subscription)))
    verdicts = action_verdicts(subscription, actor=agent)
    menu = body[body.index('id="subscription-actions"'):body.index("</table>")]
    shown = {"change_plan", "cancel", "extend_trial", "resume" if state in ("paused", "suspended") else "pause"}
    for action in shown:
        verdict, label = verdicts[action], MENU_LABELS[action]
        if verdict.allowed:
            assert re.search(rf'<a class="btn btn-sm [^"]+" href="[^"]+"\s+hx-get="[^"]+" '
                             rf'hx-target="#subscription-body"[^>]*>{re.escape(label)}</a>', menu), (state, action)
        else:
            assert f'title="{verdict.reason}"' in menu.replace("&#x27;", "'"), (state, action)
            assert re.search(rf"<button [^>]*disabled>{re.escape(label)}</button>", menu), (state, action)
            assert verdict.reason in menu.replace("&#x27;", "'")  # the visible note, not only the tooltip
    assert "Keep subscription" not in menu  # nothing waits to be cancelled


def test_the_tab_tells_what_is_planned(agent_client, plans):
    subscription = subscribed(plans["standard"], scheduled_plan=plans["premium"], discount_percent=20,
                              discount_cycles_left=3)
    body = text(agent_client.get(tab_url(subscription)))
    assert "Changes to Premium on" in body and "20% off the next 3 renewals" in body


def test_a_role_without_subscription_actions_sees_no_menu(viewer, client_for, subscription):
    body = text(client_for(viewer).get(tab_url(subscription)))
    assert "subscription-actions" not in body and "subscription-dialog" not in body


@pytest.mark.parametrize("state", ["active", "cancel_waiting"])
def test_the_tab_costs_a_fixed_number_of_queries(agent_client, plans, django_assert_max_num_queries, state):
    subscription = subscribed(plans["standard"])
    if state == "cancel_waiting":
        PaymentFactory(customer=subscription.customer, status=Payment.Status.PENDING)
        Subscription.objects.filter(pk=subscription.pk).update(cancel_after_settle="now")
    for _ in range(30):  # history does not add queries
        PaymentFactory(customer=subscription.customer)
    agent_client.get(tab_url(subscription))
    # 8 today: session, user, customer, subscriptions, the verdicts' reads, the access log
    with django_assert_max_num_queries(12):
        response = agent_client.get(tab_url(subscription), headers={**HTMX, "HX-Target": "profile-tabs"})
    assert response.status_code == 200 and "subscription-actions" in text(response)


# ---- Roles, methods, the access log ----------------------------------------------------------------------------

GETS = [("action", {"action": "plan"}), ("action_preview", {"action": "pause"}), ("cancel_new", {}),
        ("cancel_preview", {})]
POSTS = [("action_confirm", {"action": "pause"}), ("scheduled_change_cancel", {}), ("cancel_offer", {}),
         ("cancel_accept", {}), ("cancel_decline", {}), ("cancel_confirm", {})]


@pytest.mark.parametrize(("name", "kwargs"), GETS + POSTS, ids=[name for name, _ in GETS + POSTS])
def test_a_role_without_subscription_actions_gets_403(viewer, outsider, client_for, subscription, name, kwargs):
    for user in (viewer, outsider):
        client = client_for(user)
        method = client.post if (name, kwargs) in POSTS else client.get
        assert method(url(name, subscription, **kwargs), {"form_token": TOKEN}).status_code == 403
    subscription.refresh_from_db()
    assert subscription.status == "active" and not RetentionOffer.objects.exists()


@pytest.mark.parametrize(("name", "kwargs"), POSTS, ids=[name for name, _ in POSTS])
def test_a_change_is_never_made_by_a_get(agent_client, subscription, name, kwargs):
    assert agent_client.get(url(name, subscription, **kwargs)).status_code == 405


def test_an_unknown_subscription_is_404(agent_client):
    assert agent_client.get(reverse("subscriptions:cancel_new", kwargs={"public_id": "sub_none"})).status_code == 404


def test_a_dialog_is_a_read_of_the_customer(agent_client, agent, subscription):
    agent_client.get(url("action", subscription, action="plan"), headers=HTMX)
    assert AccessLog.objects.filter(customer=subscription.customer, user=agent).count() == 1


# ---- The retention report --------------------------------------------------------------------------------------

def test_the_report_shows_the_figures_by_reason_and_names_nobody(agent_client, subscription):
    RetentionOffer.objects.create(subscription=subscription, reason="not_using", kind="pause", status="accepted",
                                  mrr_saved=1299, currency="USD", created_at=timezone.now())
    RetentionOffer.objects.create(subscription=subscription, reason="not_using", kind="pause", status="declined",
                                  mrr_saved=1299, currency="USD", created_at=timezone.now())
    response = agent_client.get(reverse("subscriptions:retention"), {"days": "90"})
    assert response.status_code == 200
    body = text(response)
    row = body[body.index('id="retention-not_using"'):]
    row = row[:row.index("</tr>")]
    assert re.findall(r'<td class="text-end">([^<]*)</td>', row)[:4] == ["2", "2", "1", "50%"]
    assert "$12.99" in row and 'aria-current="page">Last 90 days' in body
    assert "Lovelace" not in body and subscription.public_id not in body
    assert not AccessLog.objects.exists()


def test_the_report_is_for_roles_that_read_customers(viewer, outsider, client_for):
    assert client_for(viewer).get(reverse("subscriptions:retention")).status_code == 200
    assert client_for(outsider).get(reverse("subscriptions:retention")).status_code == 403


def test_an_unknown_window_shows_the_last_30_days(agent_client):
    body = text(agent_client.get(reverse("subscriptions:retention"), {"days": "7"}))
    assert 'aria-current="page">Last 30 days' in body
