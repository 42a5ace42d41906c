"""Issuing invoices: the one place an invoice row is created (billing periods, plan changes).

An issued invoice is a document: its lines, amounts and period never change afterwards; what happens to it later
(credit applied, payments, paid, void) is recorded by the payment services. Numbers follow the existing series,
`INV-` and 1,000,000,000 plus the row id, so they are unique without a counter of their own.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction

from customers.models import ActivityEvent
from payments.models import Invoice
from portal.audit import Timeline, audit_record
from portal.money import format_money

NUMBER_BASE = 1_000_000_000


def invoice_line(description: str, amount: int, *, quantity: int = 1, period: tuple[datetime, datetime] | None = None
                 ) -> dict:
    """One line as the invoice document reads it (payments/selectors.py InvoiceLine)."""
    line = {"description": description, "quantity": quantity, "unit_amount": amount // quantity, "amount": amount}
    if period is not None:
        line.update(period_start=period[0].isoformat(), period_end=period[1].isoformat())
    return line


def _next_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [Invoice._meta.db_table])
        return cursor.fetchone()[0]


@transaction.atomic
def invoice_issue(*, subscription, lines: list[dict], period_start: datetime, period_end: datetime,
                  issued_at: datetime, billing_reason: str, actor) -> Invoice:
    """Issue an open invoice for `subscription` (its customer and the subscription locked by the caller, in that
    order) with `lines` (amounts in the plan's currency; a discount is a line with a negative amount). The total
    never goes below zero. Nothing is charged here: payments.charges.invoice_charge collects it."""
    subtotal = max(sum(int(line["amount"]) for line in lines), 0)
    invoice_id = _next_id()
    currency = subscription.plan.currency
    invoice = Invoice.objects.create(
        id=invoice_id, number=f"INV-{NUMBER_BASE + invoice_id}", customer_id=subscription.customer_id,
        subscription=subscription, status=Invoice.Status.OPEN, currency=currency, lines=lines, subtotal=subtotal,
        tax=0, total=subtotal, period_start=period_start, period_end=period_end, issued_at=issued_at,
        due_at=issued_at, billing_reason=billing_reason)
    invoice.customer = subscription.customer
    audit_record(actor=actor, action="payments.invoice.issued", customer=subscription.customer, obj=invoice,
                 data={"invoice": invoice.public_id, "subscription": subscription.public_id, "total": invoice.total,
                       "currency": currency, "billing_reason": billing_reason,
                       "period_start": period_start.isoformat(), "period_end": period_end.isoformat()},
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT,
                                   f"Invoice {invoice.number} issued: {format_money(invoice.total, currency)} for "
                                   f"{period_start:%-d %b %Y} to {period_end:%-d %b %Y}",
                                   {"invoice": invoice.public_id, "subscription": subscription.public_id}))
    return invoice
