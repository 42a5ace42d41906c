"""Kinds of approval request that exist only in the tests: "tag a customer", carried out by customers.services.

While a request waits it holds a "held <tag>" tag on the customer (the reservation a real kind makes, such as a
refund amount held against its payment); approving swaps it for the tag, ending without executing removes it.
`request_tag` is the requesting service an app would write: lock, ask and reserve inside one transaction.
"""

from __future__ import annotations

from django.db import transaction

from customers.models import Customer, CustomerTag
from customers.services import customer_tag_add, customer_tag_remove
from portal import approvals
from portal.errors import DomainError

TAG = "tests.tag"
SUDO_TAG = "tests.sudo_tag"


def held(tag: str) -> str:
    return f"held {tag}"


def _customer(approval) -> Customer:
    return Customer.objects.get(pk=approval.customer_id)


def _check(approval) -> None:
    tag = approval.payload["tag"]
    if CustomerTag.objects.filter(customer_id=approval.customer_id, tag__name=tag).exists():
        raise DomainError(f"The customer has the tag “{tag}” already (added after the request).", code="already_tagged")


def _execute(approval, actor) -> dict:
    customer, tag = _customer(approval), approval.payload["tag"]
    customer_tag_remove(customer=customer, name=held(tag), actor=actor)
    return {"tag": customer_tag_add(customer=customer, name=tag, actor=actor).name}


def _release(approval) -> None:
    customer, tag = _customer(approval), approval.payload["tag"]
    if CustomerTag.objects.filter(customer=customer, tag__name=held(tag)).exists():
        customer_tag_remove(customer=customer, name=held(tag), actor=None)


def _describe(approval) -> str:
    return f"Add tag “{approval.payload['tag']}” to {approval.payload['customer']}"


def _target(payload: dict) -> str:
    return f"{payload['customer']}:{payload['tag']}"


TAG_KIND = approvals.ApprovalKind(code=TAG, label="Add tag", check=_check, execute=_execute, release=_release,
                                  describe=_describe, duplicate_key=_target, reasons={"goodwill": "Goodwill gesture"},
                                  timeline_kind="profile")
SUDO_TAG_KIND = approvals.ApprovalKind(code=SUDO_TAG, label="Add protected tag", check=_check, execute=_execute,
                                       release=_release, describe=_describe, duplicate_key=_target,
                                       timeline_kind="profile", sudo=True)
KINDS = (TAG_KIND, SUDO_TAG_KIND)


def register_kinds() -> None:
    for kind in KINDS:
        approvals.register(kind)


def unregister_kinds() -> None:
    for kind in KINDS:
        approvals.unregister(kind.code)


@transaction.atomic
def request_tag(*, customer, actor, tag: str = "vip", kind: str = TAG, note: str = "", amount: int | None = None,
                request_key: str | None = None):
    """Ask a manager to tag the customer: what an app's service does when its rule says "needs approval". The
    hold is taken after the request is made, so a stale request it replaces has released its own first."""
    if request_key and (existing := approvals.approval_by_request_key(request_key)):
        return existing  # a repeated submission: nothing reserved twice
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
    approval = approvals.approval_request(
        kind=kind, customer=customer, actor=actor, payload={"customer": customer.public_id, "tag": tag},
        amount=amount, currency="USD" if amount is not None else "", reason="goodwill", note=note,
        verdict=f"Tags starting with “{tag[:3]}” need a manager's approval.", request_key=request_key)
    customer_tag_add(customer=customer, name=held(tag), actor=actor)
    return approval
