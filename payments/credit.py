"""Account credit: a ledger (`CreditEntry`), never an editable balance. The balance is the sum of the entries;
grants add, debits, applications to invoices and expiries take away, and nothing may take it below zero.

Every service locks the customer row first, so the balance read under that lock is the balance the entry is
written against (two debits at once cannot both spend the same credit).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, F, Sum, When
from django.utils import timezone

from customers.models import ActivityEvent, Customer
from payments.models import CreditEntry, Invoice
from payments.policy import NEEDS_APPROVAL, credit_verdict
from portal.audit import Timeline, audit_record
from portal.errors import DomainError
from portal.approvals import approval_request
from portal.models import Approval
from portal.money import format_money
from portal.roles import Cap, has_capability

CREDIT_APPROVAL = "payments.credit"
REASON_MAX_LENGTH = CreditEntry._meta.get_field("reason").max_length
MAX_CREDIT = 10**10  # minor units: far above any real grant, far below the column's limit


@dataclass(frozen=True)
class CreditRequest:
    entry: CreditEntry | None = None
    approval: Approval | None = None
    replayed: bool = False


def credit_balance(customer_id: int) -> int:
    """The customer's credit balance in their currency (minor units): the sum of the ledger."""
    total = CreditEntry.objects.filter(customer_id=customer_id).aggregate(balance=Sum(
        Case(When(kind=CreditEntry.Kind.GRANT, then=F("amount")), default=-F("amount"))))["balance"]
    return total or 0


def _lock_customer(customer: Customer) -> Customer:
    locked = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
    if locked.status == Customer.Status.ERASED:
        raise DomainError("This customer's data has been erased; their account takes no new credit.",
                          code="customer_erased")
    return locked


def _checked(amount: int, reason: str) -> str:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise DomainError("Enter an amount above zero.", code="invalid_amount")
    if amount > MAX_CREDIT:
        raise DomainError("That amount is too large for account credit.", code="invalid_amount")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why: the reason is shown on the customer's ledger.", code="invalid_reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise DomainError(f"The reason is at most {REASON_MAX_LENGTH} characters.", code="invalid_reason")
    return reason


def _earlier(request_key: str | None, customer: Customer, kind: str, amount: int) -> CreditRequest | None:
    if not request_key:
        return None
    entry = CreditEntry.objects.filter(request_key=request_key).first()
    approval = Approval.objects.filter(request_key=request_key).first() if entry is None else None
    if entry is None and approval is None:
        return None
    same = (entry.customer_id == customer.pk and entry.kind == kind and entry.amount == amount) if entry else (
        approval.kind == CREDIT_APPROVAL and approval.customer_id == customer.pk and approval.amount == amount)
    if not same:
        raise DomainError("This request was already sent with different values; reload the page and try again.",
                          code="idempotency_conflict")
    return CreditRequest(entry=entry, approval=approval, replayed=True)


def _write(customer: Customer, *, kind: str, amount: int, reason: str, actor, request_key: str | None,
           approval: Approval | None = None) -> CreditEntry:
    entry = CreditEntry.objects.create(
        customer=customer, kind=kind, amount=amount, currency=customer.currency, reason=reason,
        created_by=approval.requested_by if approval else (actor if actor and actor.is_authenticated else None),
        created_at=timezone.now(), request_key=request_key)
    money = format_money(amount, customer.currency)
    verb = "added" if kind == CreditEntry.Kind.GRANT else "removed"
    approved = f", approved by {actor.get_username()}" if approval is not None else ""
    audit_record(actor=actor, action=f"payments.credit.{'granted' if kind == CreditEntry.Kind.GRANT else 'debited'}",
                 customer=customer, obj=entry,
                 data={"amount": amount, "currency": customer.currency, "entry": entry.pk,
                       **({"approval": approval.public_id} if approval else {})},
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT, f"Credit of {money} {verb}{approved}",
                                   {"credit_entry": entry.pk}))
    return entry


@transaction.atomic
def credit_grant(*, customer: Customer, amount: int, reason: str, actor,
                 request_key: str | None = None) -> CreditRequest:
    """Add credit to the customer's account, or ask a manager when it is over the actor's credit limit."""
    reason = _checked(amount, reason)
    customer = _lock_customer(customer)
    earlier = _earlier(request_key, customer, CreditEntry.Kind.GRANT, amount)
    if earlier is not None:
        return earlier
    verdict = credit_verdict(actor=actor, amount=amount, currency=customer.currency)
    if verdict.refused:
        raise DomainError(verdict.reason, code=f"credit_{verdict.code}")
    if verdict.decision == NEEDS_APPROVAL:
        approval = approval_request(
            kind=CREDIT_APPROVAL, customer=customer, actor=actor, payload={"customer": customer.public_id},
            amount=amount, currency=customer.currency, reason="goodwill", note=reason, verdict=verdict.reason,
            request_key=request_key)
        return CreditRequest(approval=approval)
    return CreditRequest(entry=_write(customer, kind=CreditEntry.Kind.GRANT, amount=amount, reason=reason,
                                      actor=actor, request_key=request_key))


@transaction.atomic
def credit_debit(*, customer: Customer, amount: int, reason: str, actor,
                 request_key: str | None = None) -> CreditRequest:
    """Take credit back (a grant made by mistake). Never more than the balance."""
    reason = _checked(amount, reason)
    if not has_capability(actor, Cap.ISSUE_CREDIT):
        raise DomainError("Your role does not allow changing credit.", code="credit_role")
    customer = _lock_customer(customer)
    earlier = _earlier(request_key, customer, CreditEntry.Kind.DEBIT, amount)
    if earlier is not None:
        return earlier
    balance = credit_balance(customer.pk)
    if amount > balance:
        raise DomainError(f"The balance is {format_money(balance, customer.currency)}: a debit cannot take it "
                          f"below zero.", code="credit_insufficient")
    return CreditRequest(entry=_write(customer, kind=CreditEntry.Kind.DEBIT, amount=amount, reason=reason,
                                      actor=actor, request_key=request_key))


def credit_add_for_proration(*, customer: Customer, amount: int, reason: str, actor) -> CreditEntry:
    """Grant the unused time of a plan change as credit ("Unused time on Pro"), inside the caller's transaction
    (the subscription services hold the customer's lock). No credit limit or approval applies: the amount is
    computed by subscriptions/proration.py, not chosen by the agent."""
    reason = _checked(amount, reason)
    return _write(_lock_customer(customer), kind=CreditEntry.Kind.GRANT, amount=amount, reason=reason, actor=actor,
                  request_key=None)


def credit_apply_to_invoice(*, invoice: Invoice, actor=None) -> int:
    """Pay as much of a locked open invoice as the balance allows, before any card is charged. The caller holds
    the customer's lock (payments lock order: customer, invoice). Returns the amount applied."""
    from payments.outcomes import invoice_amount_outstanding, invoice_settle_if_covered

    if invoice.status != Invoice.Status.OPEN or invoice.currency != invoice.customer.currency:
        return 0
    amount = min(credit_balance(invoice.customer_id), invoice_amount_outstanding(invoice))
    if amount <= 0:
        return 0
    entry = CreditEntry.objects.create(customer_id=invoice.customer_id, kind=CreditEntry.Kind.APPLIED,
                                       amount=amount, currency=invoice.currency, invoice=invoice,
                                       reason=f"Applied to invoice {invoice.number}", created_at=timezone.now())
    invoice.credit_applied += amount
    invoice.save(update_fields=["credit_applied"])
    audit_record(actor=actor, action="payments.credit.applied", customer=invoice.customer, obj=entry,
                 data={"amount": amount, "currency": invoice.currency, "invoice": invoice.public_id},
                 timeline=Timeline(ActivityEvent.Kind.PAYMENT,
                                   f"Credit of {format_money(amount, invoice.currency)} applied to invoice "
                                   f"{invoice.number}", {"invoice": invoice.public_id}))
    invoice_settle_if_covered(invoice, actor=actor)
    return amount


# ---- The approval kind ---------------------------------------------------------------------------------------

def _approval_customer(approval: Approval) -> Customer:
    return _lock_customer(Customer.objects.get(pk=approval.customer_id))


def approval_check(approval: Approval) -> None:
    _approval_customer(approval)  # an erased customer takes no credit: refused with its sentence


def approval_execute(approval: Approval, actor) -> dict:
    customer = _approval_customer(approval)
    entry = _write(customer, kind=CreditEntry.Kind.GRANT, amount=approval.amount, reason=approval.note,
                   actor=actor, request_key=None, approval=approval)
    return {"credit_entry": entry.pk}


def approval_describe(approval: Approval) -> str:
    return f"Add {format_money(approval.amount, approval.currency)} of account credit"

