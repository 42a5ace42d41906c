"""Reads for payment documents: the invoice page and its PDF share one query plan (3 queries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from functools import cached_property

from babel import Locale
from django.db.models import F, Prefetch, QuerySet, Sum

from payments.models import Invoice, Payment, Refund


@dataclass(frozen=True)
class InvoiceLine:
    """One line of the issued document. The billing period is the line's own when it carries one (an ISO date in
    the JSON), otherwise the invoice's."""

    description: str
    quantity: int
    unit_amount: int
    amount: int
    period_start: datetime | None
    period_end: datetime | None


def _line_datetime(value) -> datetime | None:
    """A line's own period bound: an ISO date or datetime; without an offset it is UTC, like every stored time."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt_timezone.utc)


@dataclass(frozen=True)
class InvoiceDocument:
    """An invoice with the payments made against it and their refunds, and the sums a reader looks for.

    The figures follow how a paper invoice reads: total (subtotal + tax), less account credit, less what was paid,
    leaves the amount due. Refunds are money returned on a payment; they never make an amount due again.
    """

    invoice: Invoice
    payments: list[Payment]

    @property
    def customer(self):
        return self.invoice.customer

    @property
    def country_name(self) -> str:
        return Locale("en").territories.get(self.customer.country, self.customer.country)

    @cached_property
    def lines(self) -> list[InvoiceLine]:
        invoice = self.invoice
        plan = invoice.subscription.plan if invoice.subscription_id and invoice.subscription.plan_id else None
        lines = []
        for raw in invoice.lines or []:
            amount = int(raw.get("amount") or 0)
            quantity = int(raw.get("quantity") or 1)
            lines.append(InvoiceLine(
                description=raw.get("description") or (plan.name if plan else "Subscription"),
                quantity=quantity,
                unit_amount=int(raw["unit_amount"]) if raw.get("unit_amount") is not None else amount // quantity,
                amount=amount,
                period_start=_line_datetime(raw.get("period_start")) or invoice.period_start,
                period_end=_line_datetime(raw.get("period_end")) or invoice.period_end,
            ))
        return lines

    @property
    def has_tax(self) -> bool:
        return self.invoice.tax > 0

    @cached_property
    def captured_payments(self) -> list[Payment]:
        return [p for p in self.payments if p.status in Payment.CAPTURED_STATUSES]

    @property
    def amount_paid(self) -> int:
        return sum(p.amount for p in self.captured_payments)

    @cached_property
    def refunds(self) -> list[Refund]:
        """Every refund of every payment, oldest first (failed and pending ones too: the payments list shows them)."""
        return sorted((refund for payment in self.payments for refund in payment.refunds.all()),
                      key=lambda refund: (refund.created_at, refund.pk))

    @property
    def succeeded_refunds(self) -> list[Refund]:
        return [refund for refund in self.refunds if refund.status == Refund.Status.SUCCEEDED]

    @property
    def amount_refunded(self) -> int:
        return sum(refund.amount for refund in self.succeeded_refunds)

    @property
    def net_paid(self) -> int:
        return self.amount_paid - self.amount_refunded

    @property
    def balance(self) -> int:
        """What is left to pay after credit and payments, whatever the status."""
        return max(self.invoice.total - self.invoice.credit_applied - self.amount_paid, 0)

    @property
    def amount_due(self) -> int:
        """Only an open invoice asks for money: paid, void, uncollectible and draft invoices have nothing due."""
        return self.balance if self.invoice.status == Invoice.Status.OPEN else 0

    @property
    def amount_written_off(self) -> int:
        return self.balance if self.invoice.status == Invoice.Status.UNCOLLECTIBLE else 0

    @property
    def is_paid(self) -> bool:
        return self.invoice.status == Invoice.Status.PAID

    @property
    def settling_payment(self) -> Payment | None:
        """The payment that settled a paid invoice: its last captured payment (None when credit covered it all)."""
        return self.captured_payments[-1] if self.is_paid and self.captured_payments else None

    @property
    def paid_on(self) -> datetime | None:
        if not self.is_paid:
            return None
        payment = self.settling_payment
        return self.invoice.paid_at or (payment.created_at if payment else self.invoice.issued_at)

    @property
    def last_attempt(self) -> Payment | None:
        return self.payments[-1] if self.payments else None

    @property
    def status(self) -> tuple[str, str]:
        """(css key, label) of the document's state as a reader means it: a paid invoice whose payment was given
        back reads "Refunded", an open one with part of it paid reads "Partially paid"."""
        status = self.invoice.status
        if status == Invoice.Status.PAID and self.amount_refunded:
            if self.amount_refunded >= self.amount_paid:
                return "refunded", "Refunded"
            return "partially_refunded", "Partially refunded"
        if status == Invoice.Status.OPEN and self.amount_paid:
            return "partially_paid", "Partially paid"
        return status, self.invoice.get_status_display()


def invoices_for_document() -> QuerySet[Invoice]:
    """Pass to `access_invoice`: the invoice with its customer (billing address) and plan in one SELECT."""
    return Invoice.objects.select_related("customer", "customer__storefront", "subscription__plan")


def invoice_document(invoice: Invoice) -> InvoiceDocument:
    payments = (Payment.objects.filter(invoice=invoice).select_related("payment_method")
                .prefetch_related(Prefetch("refunds", queryset=Refund.objects.order_by("created_at", "id")))
                .order_by("created_at", "id"))
    return InvoiceDocument(invoice=invoice, payments=list(payments))


# ---- What the money actions on a list of payments may do (the profile's Payments tab) ---------------------------

# Refusals worth a line under the row's buttons (what to do about them); the others (nothing left to refund, a newer
# attempt exists) are only the disabled button's tooltip.
SAY_ON_THE_ROW = {"channel", "disputed", "hard_decline", "no_method"}


def payment_row_actions(customer, payments: list[Payment], user) -> None:
    """Give each payment of one customer `refund_block` and `retry_block`: "" when the action is offered, else the
    sentence its disabled button shows; and `action_note`, the refusal worth reading on the row. Three queries
    whatever the number of rows."""
    from customers.models import Customer
    from payments.charges import default_method, retry_verdict
    from payments.policy import refund_refusal
    from portal.roles import Cap, has_capability

    may_refund = has_capability(user, Cap.REFUND_PAYMENTS)
    may_retry = has_capability(user, Cap.RETRY_PAYMENTS)
    customer = Customer.objects.select_related("storefront").get(pk=customer.pk)
    method = default_method(customer.pk) if may_retry else None
    failed_invoices = {p.invoice_id for p in payments if p.status == Payment.Status.FAILED and p.invoice_id}
    latest: dict[int, Payment] = {}
    if may_retry and failed_invoices:
        for attempt in (Payment.objects.filter(invoice_id__in=failed_invoices)
                        .order_by("invoice_id", "-created_at", "-id").distinct("invoice_id")
                        .only("id", "public_id", "invoice_id", "status")):
            latest[attempt.invoice_id] = attempt
    for payment in payments:
        payment.customer = customer
        payment.refund_block = payment.retry_block = payment.action_note = ""
        if may_refund and payment.status in Payment.CAPTURED_STATUSES:
            refusal = refund_refusal(payment)
            payment.refund_block = refusal.reason if refusal else ""
            if refusal and refusal.code in SAY_ON_THE_ROW:
                payment.action_note = refusal.reason
        if may_retry and payment.status == Payment.Status.FAILED:
            verdict = retry_verdict(payment, method=method, latest=latest.get(payment.invoice_id))
            payment.retry_block = verdict.reason if verdict.refused else ""
            if verdict.refused and verdict.code in SAY_ON_THE_ROW:
                payment.action_note = verdict.reason


def customer_amount_due(customer) -> int:
    """What the customer's open invoices in their own currency still ask for, in minor units (0 when nothing is
    due): the emails' `amount_due` and the card-update page show it."""
    due = (Invoice.objects.filter(customer=customer, status=Invoice.Status.OPEN, currency=customer.currency)
           .aggregate(due=Sum(F("total") - F("credit_applied")))["due"] or 0)
    return max(due, 0)
