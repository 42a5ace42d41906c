"""Issuing invoices: the one place an invoice is written, numbered and recorded (a billing period's invoice from
the billing jobs, a plan change's proration from the subscription services).

Invoices are numbered like the demo data's, `INV-` followed by 1,000,000,000 + the row's id: the id is taken from
the table's sequence first, so the number is unique without a second write or a counter row to lock. An issued
invoice is a document: its lines, amounts and period never change afterwards.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.utils import timezone

from customers.models import ActivityEvent, Customer
from payments.models import Invoice
from portal.audit import Timeline, audit_record
from portal.money import format_money

NUMBER_BASE = 1_000_000_000


def invoice_line(description: str, amount: int) -> dict:
    """One line of an invoice (quantity 1); a credit or a discount is a negative amount."""
    return {"description": description, "quantity": 1, "unit_amount": amount, "amount": amount}


def invoice_issue(*, customer: Customer, subscription, lines: list[dict], currency: str, period_start: datetime,
                  period_end: datetime, actor, why: str, billing_reason: str = "",
                  issued_at: datetime | None = None) -> Invoice:
    """Issue an open invoice for `lines` (their amounts add up to its total, which must not be negative), inside the
    caller's transaction; the caller holds the customer's lock and collects it (payments.charges.invoice_charge).

    `billing_reason` says what it bills (Invoice.BillingReason): a subscription's period is issued at most once
    (the `invoice_one_per_period` constraint). `issued_at` defaults to now (the billing jobs pass their clock)."""
    total = sum(line["amount"] for line in lines)
    if total < 0:
        raise ValueError("An invoice's lines add up to a negative total: grant credit instead.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('payments_invoice', 'id'))")
        (pk,) = cursor.fetchone()
    issued_at = issued_at or timezone.now()
    invoice = Invoice.objects.create(
        pk=pk, number=f"INV-{NUMBER_BASE + pk}", customer=customer, subscription=subscription,
        status=Invoice.Status.OPEN, currency=currency, lines=lines, subtotal=total, tax=0, total=total,
        period_start=period_start, period_end=period_end, issued_at=issued_at, due_at=issued_at,
        billing_reason=billing_reason)
    audit_record(actor=actor, action="payments.invoice.issued", customer=customer, obj=invoice,
                 data={"invoice": invoice.public_id, "total": total, "currency": currency, "why": why,
                       **({"subscription": subscription.public_id} if subscription is not None else {}),
                       **({"billing_reason": billing_reason} if billing_reason else {})},
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT,
                                   f"Invoice {invoice.number} issued for {format_money(total, currency)} ({why})",
                                   {"invoice": invoice.public_id}))
    return invoice
