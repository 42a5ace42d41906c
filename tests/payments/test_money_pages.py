"""The money dialogs and buttons on the profile: what they show before submitting, what a submit does."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages

from payments.models import CreditEntry, Payment, PaymentMethod, Refund
from tests.factories import CustomerFactory, PaymentFactory, StorefrontFactory
from tests.payments.factories import captured_payment, card_customer


def _token(html: str) -> str:
    return re.search(r'name="form_token" value="([0-9a-f]+)"', html).group(1)


def test_the_refund_dialog_shows_the_remaining_amount_and_the_policys_answer(people, client_for):
    client = client_for(people[0])
    payment = captured_payment(amount=10_000, days_ago=40)
    html = client.get(f"/payments/{payment.public_id}/refund/").content.decode()
    assert "Remaining refundable" in html and "$100.00" in html
    assert "Needs approval" in html and "outside the 30-day refund window" in html
    preview = client.get(f"/payments/{payment.public_id}/refund/preview/", {"amount": "250.00"}).content.decode()
    assert "Cannot refund" in preview and "Only $100.00 can still be refunded" in preview


def test_a_refund_submitted_twice_with_one_token_refunds_once(people, client_for):
    client = client_for(people[0])
    payment = captured_payment(amount=10_000)
    token = _token(client.get(f"/payments/{payment.public_id}/refund/").content.decode())
    form = {"amount": "12.50", "reason": "duplicate", "note": "", "form_token": token}
    first = client.post(f"/payments/{payment.public_id}/refunds/", form, headers={"HX-Request": "true"})
    assert first.status_code == 200 and first["HX-Redirect"].endswith("/payments/")
    assert "Refunded $12.50" in [str(m) for m in get_messages(first.wsgi_request)][0]
    client.post(f"/payments/{payment.public_id}/refunds/", form, headers={"HX-Request": "true"})
    assert Refund.objects.count() == 1 and Payment.objects.get(pk=payment.pk).amount_refunded == 1_250
    changed = client.post(f"/payments/{payment.public_id}/refunds/", {**form, "amount": "20.00"},
                          headers={"HX-Request": "true"})
    assert changed.status_code == 422 and "different values" in changed.content.decode()
    assert Refund.objects.count() == 1


@pytest.mark.parametrize("amount", ["", "abc", "-1", "0", "1.234", "1e3", "999999999999999"])
def test_bad_amounts_are_shown_on_the_form_and_change_nothing(people, client_for, amount):
    client = client_for(people[0])
    payment = captured_payment(amount=10_000)
    response = client.post(f"/payments/{payment.public_id}/refunds/",
                           {"amount": amount, "reason": "duplicate"}, headers={"HX-Request": "true"})
    assert response.status_code == 422 and 'aria-invalid="true"' in response.content.decode()
    assert not Refund.objects.exists()


def test_buttons_that_cannot_act_are_disabled_with_their_reason(people, client_for):
    client = client_for(people[0])
    customer = CustomerFactory(storefront=StorefrontFactory(code="apps", kind="app_store"))
    method = PaymentMethod.objects.create(customer=customer, kind="app_store", is_default=True, gateway="app_store",
                                          created_at=customer.registered_at)
    PaymentFactory(customer=customer, payment_method=method, gateway="app_store")
    html = client.get(f"/customers/{customer.public_id}/payments/").content.decode()
    assert "Refund unavailable: This payment was made through App Store Connect: refund this in App Store Connect." \
        in html
    hard = card_customer(card="pm_card_chargeDeclined")
    PaymentFactory(customer=hard, status="failed", decline_type="hard", failure_message="Card reported lost",
                   payment_method=hard.payment_methods.get(), invoice__status="open")
    html = client.get(f"/customers/{hard.public_id}/payments/").content.decode()
    assert "Retry unavailable:" in html and "declined for good" in html


def test_the_payments_tab_asks_a_fixed_number_of_queries(people, client_for, django_assert_max_num_queries):
    client = client_for(people[0])
    customer = card_customer()
    for status in ["succeeded", "failed"] * 12:
        PaymentFactory(customer=customer, status=status, invoice__status="open" if status == "failed" else "paid",
                       payment_method=customer.payment_methods.get())
    with django_assert_max_num_queries(14):
        assert client.get(f"/customers/{customer.public_id}/payments/").status_code == 200


def test_credit_dialog_adds_credit_and_refuses_overdraw(people, client_for):
    client = client_for(people[0])
    customer = card_customer()
    html = client.get(f"/customers/{customer.public_id}/credit/").content.decode()
    token = _token(html)
    ok = client.post(f"/customers/{customer.public_id}/credit/save/",
                     {"direction": "grant", "amount": "15", "reason": "Outage", "form_token": token})
    assert ok.status_code == 302 and CreditEntry.objects.get().amount == 1_500
    bad = client.post(f"/customers/{customer.public_id}/credit/save/",
                      {"direction": "debit", "amount": "20", "reason": "Oops"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "below zero" in bad.content.decode() and CreditEntry.objects.count() == 1


@pytest.mark.parametrize("url", ["/payments/{pay}/refunds/", "/payments/{pay}/retry/", "/customers/{cus}/credit/save/"])
def test_writes_refuse_get_and_roles_without_the_capability(people, client_for, viewer, url):
    payment = captured_payment()
    url = url.format(pay=payment.public_id, cus=payment.customer.public_id)
    assert client_for(people[0]).get(url).status_code == 405
    assert client_for(viewer).post(url, {}).status_code == 403
