"""Refund windows and limits are configuration: admins change them in the admin, audited; the policy reads them."""

from __future__ import annotations

import pytest

from payments.models import PaymentRules
from payments.policy import payment_rules, refund_verdict
from portal.models import AuditEvent
from tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db


def test_an_admin_changes_the_rules_and_the_policy_follows(admin_user, agent, client_for):
    admin_user.is_staff = True  # as the seed creates the Admin persona: staff, so Django's admin opens
    admin_user.save(update_fields=["is_staff"])
    client = client_for(admin_user)
    assert client.get("/admin/payments/paymentrules/").status_code == 200
    rules = PaymentRules.objects.get()
    response = client.post(f"/admin/payments/paymentrules/{rules.pk}/change/", {
        "default_refund_window_days": 60, "agent_refund_limit": 10_000, "manager_refund_limit": 100_000,
        "agent_credit_limit": 5_000, "manager_credit_limit": 50_000})
    assert response.status_code == 302
    assert payment_rules().default_refund_window_days == 60
    assert AuditEvent.objects.filter(object_type="payments.paymentrules").exists()
    old = PaymentFactory()
    PaymentFactory._meta.model.objects.filter(pk=old.pk).update(created_at=old.created_at.replace(
        year=old.created_at.year - 1))
    old.refresh_from_db()
    assert refund_verdict(payment=old, actor=agent, amount=100).code == "window"


def test_agents_do_not_open_the_configuration(agent, client_for):
    assert client_for(agent).get("/admin/payments/paymentrules/").status_code in (302, 403)
