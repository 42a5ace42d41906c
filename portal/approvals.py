"""Four eyes: actions that a second person, a manager, approves before they are carried out.

Each kind of request is registered by the app that owns the action, from its AppConfig.ready():

    approvals.register(ApprovalKind(
        code="payments.refund", label="Refund",
        check=refund_still_allowed,            # (approval) -> None; DomainError with the reason it no longer is
        execute=refund_from_approval,          # (approval, actor) -> {"refund": "re_…"}: ids for Approval.result
        release=refund_reservation_release,    # (approval) -> None: undo what the request held
        describe=lambda a: f"Refund {format_money(a.amount, a.currency)} of {a.payload['payment']}",
        duplicate_key=lambda payload: payload["payment"],
        reasons=dict(Refund.Reason.choices), timeline_kind="payment", sudo=True))

When one of its rules answers "needs approval", the app's service calls `approval_request(...)` inside its own
transaction (after reserving what the request holds, such as the refund amount against the payment). Then:

- `approval_approve`: locks the request, refuses what may not be (already decided, expired, the requester's own,
  a role without Cap.APPROVE_REQUESTS), runs the kind's `check` again and, if it still holds, its `execute`, in the
  same transaction. What `execute` records carries the source "approval". A check or execute that refuses ends
  the request as failed: released, audited, committed, and then reported with ApprovalFailed.
- `approval_reject`: the decider's comment is required; the request is released.
- `approvals_expire` (beat, every 5 minutes): pending requests past `expires_at` end as expired and are released.
  An expired request is never carried out, even if nobody has swept it yet: deciding it expires it instead.

Who decides: never the requester (not admins, not superusers: there is no bypass), and only a role that holds
Cap.APPROVE_REQUESTS. Two managers deciding at once: the second waits for the first's row lock, then finds the
request decided and is refused with who decided it and when (409 in the API).

Lock order: the approval row first, then whatever the kind's check, execute and release lock. `approval_request`
runs in the caller's transaction, which already holds the kind's rows; it never waits for an approval row
(a stale duplicate is expired only when its lock is free: SKIP LOCKED), so the two orders cannot deadlock.

`execute` runs inside the approving transaction: a kind that calls the network (the payment gateway) writes its
intent and sends the call with `transaction.on_commit`. `check`, `execute`, `release` and `describe` get the
Approval; `describe` and `duplicate_key` read only its fields (a page lists 25 requests without a query each).

Nothing personal goes into the audit rows or the timeline: `payload` is ids and amounts, the free texts (the
requester's note, the decider's comment) are counted, not copied. The customer's timeline tells the requester what
happened; its Activity tab shows the note or comment from the approval row (customers/selectors/profile.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.audit import Timeline, audit_record
from portal.context import action_source
from portal.errors import DomainError
from portal.models import Approval
from portal.money import format_money
from portal.roles import Cap, has_capability

logger = structlog.get_logger(__name__)

NOTE_MAX_LENGTH = Approval.NOTE_MAX_LENGTH
COMMENT_MAX_LENGTH = Approval.COMMENT_MAX_LENGTH
VERDICT_MAX_LENGTH = Approval._meta.get_field("verdict").max_length
TARGET_MAX_LENGTH = Approval._meta.get_field("target").max_length
FAILURE_MAX_LENGTH = Approval._meta.get_field("failure_message").max_length
EXPIRE_BATCH = 100


# ---- The registry ------------------------------------------------------------------------------------------------

def _nothing_to_release(approval: Approval) -> None:
    return None


def _no_duplicate_key(payload: dict) -> str | None:
    return None


@dataclass(frozen=True)
class ApprovalKind:
    """One kind of request: what it is called, how to check, carry out, release and describe it.

    code: "<app>.<action>", stored in Approval.kind. label: what the Approvals page calls it ("Refund").
    check(approval): raise DomainError with a sentence when the action is no longer allowed; run at decision time.
    execute(approval, actor) -> dict: carry the action out (in the approving transaction; the actor is the
        approver) and return ids of what it made, stored in Approval.result.
    release(approval): undo what the pending request held (reservations); called when it ends without executing.
    describe(approval) -> str: one line for lists ("Refund $12.00 of pay_…"); fields only, no query.
    duplicate_key(payload) -> str | None: the request's target; a second pending request of this kind with the
        same target is refused. None: no such rule.
    reasons: reason code → label (the page shows the label; unknown codes are shown as words).
    timeline_kind: the customers.ActivityEvent kind of the timeline events (payment, privacy, support, …).
    sudo: approving asks for the approver's password again on the page. The API approves it only with a bearer
        token (a credential of its own); a browser session calling the API is sent to the page (403).
    """

    code: str
    label: str
    check: Callable[[Approval], None]
    execute: Callable[[Approval, Any], dict]
    release: Callable[[Approval], None] = _nothing_to_release
    describe: Callable[[Approval], str] | None = None
    duplicate_key: Callable[[dict], str | None] = _no_duplicate_key
    reasons: Mapping[str, str] = field(default_factory=dict)
    timeline_kind: str = "support"
    sudo: bool = False

    def description(self, approval: Approval) -> str:
        if self.describe is not None:
            return self.describe(approval)
        return f"{self.label} {_money(approval)}".strip()

    def subject(self, approval: Approval) -> str:
        """How the timeline names the request: "Refund of $12.00", or the label alone without an amount."""
        money = _money(approval)
        return f"{self.label} of {money}" if money else self.label

    def reason_label(self, code: str) -> str:
        return reason_label(code, self)


_KINDS: dict[str, ApprovalKind] = {}


def register(kind: ApprovalKind) -> ApprovalKind:
    """Register a kind (from an AppConfig.ready()). A second, different kind with the same code is a mistake."""
    if not kind.code or "." not in kind.code or len(kind.code) > Approval._meta.get_field("kind").max_length:
        raise ImproperlyConfigured(f"Approval kind codes look like '<app>.<action>': {kind.code!r}.")
    existing = _KINDS.get(kind.code)
    if existing is not None and existing != kind:
        raise ImproperlyConfigured(f"Another approval kind is already registered as {kind.code!r}.")
    _KINDS[kind.code] = kind
    return kind


def unregister(code: str) -> None:
    """Forget a kind (tests that register their own)."""
    _KINDS.pop(code, None)


def kind_for(code: str) -> ApprovalKind | None:
    """The registered kind, or None for a code no installed app handles any more (its requests can be rejected)."""
    return _KINDS.get(code)


def registered_kinds() -> list[ApprovalKind]:
    return sorted(_KINDS.values(), key=lambda kind: kind.label)


def kind_label(approval: Approval) -> str:
    kind = kind_for(approval.kind)
    return kind.label if kind else approval.kind


def describe(approval: Approval) -> str:
    """One line for lists; falls back to the kind's label if its describe() cannot read this request's payload."""
    kind = kind_for(approval.kind)
    if kind is None:
        return f"{approval.kind} {_money(approval)}".strip()
    try:
        return kind.description(approval)
    except (KeyError, TypeError, ValueError, IndexError):
        return f"{kind.label} {_money(approval)}".strip()


def reason_label(code: str, kind: ApprovalKind | None = None) -> str:
    if not code:
        return ""
    if kind is not None and code in kind.reasons:
        return str(kind.reasons[code])
    return code.replace("_", " ").capitalize()


def _money(approval: Approval) -> str:
    if approval.amount is None or not approval.currency:
        return ""
    return format_money(approval.amount, approval.currency)


def _registered(code: str) -> ApprovalKind:
    kind = kind_for(code)
    if kind is None:
        raise ImproperlyConfigured(f"No approval kind {code!r} is registered (approvals.register in ready()).")
    return kind


def _subject(approval: Approval, kind: ApprovalKind | None) -> str:
    if kind is not None:
        return kind.subject(approval)
    money = _money(approval)
    return f"Request {approval.public_id}" + (f" of {money}" if money else "")


# ---- Refusals ----------------------------------------------------------------------------------------------------

def _username(user) -> str:
    return user.get_username() if user is not None else "a former user"


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


class AlreadyRequested(DomainError):
    """A request of this kind for the same target is already waiting (409)."""

    code = "already_requested"
    status = 409

    def __init__(self, existing: Approval, kind: ApprovalKind):
        self.approval = existing
        super().__init__(f"{describe(existing)} is already waiting for a manager: asked by "
                         f"{_username(existing.requested_by)} at {_when(existing.requested_at)} "
                         f"({existing.public_id}). Wait for that decision, or ask a manager to reject it first.")


class RequestKeyReused(DomainError):
    code = "request_key_reused"
    status = 409

    def __init__(self):
        super().__init__("This form was already submitted for a different request; reload the page and try again.")


class NotAManager(DomainError):
    code = "forbidden"
    status = 403

    def __init__(self):
        super().__init__("Only a manager can approve or reject requests.")


class OwnRequest(DomainError):
    """The four-eyes rule: nobody decides their own request, whatever their role."""

    code = "own_request"
    status = 403

    def __init__(self):
        super().__init__("You asked for this; another manager must decide.")


_ENDED = {
    Approval.Status.APPROVED: "approved",
    Approval.Status.REJECTED: "rejected",
    Approval.Status.FAILED: "closed as failed",
}


class AlreadyDecided(DomainError):
    """The request is no longer pending: somebody decided it first, it failed, or it expired (409)."""

    code = "already_decided"
    status = 409

    def __init__(self, approval: Approval):
        self.approval = approval
        if approval.status == Approval.Status.EXPIRED:
            text = f"This request expired at {_when(approval.decided_at)} before anyone decided it"
        else:
            text = (f"This request was already {_ENDED[approval.status]} by {_username(approval.decided_by)} "
                    f"at {_when(approval.decided_at)}")
        super().__init__(f"{text}; nothing was changed.")


class ApprovalExpired(DomainError):
    code = "expired"
    status = 409

    def __init__(self, approval: Approval):
        self.approval = approval
        super().__init__(f"This request expired at {_when(approval.expires_at)} before anyone decided it; it is now "
                         f"closed and nothing was carried out. The requester can ask again.")


class ApprovalFailed(DomainError):
    """Approved, but the action is no longer allowed: the request is closed as failed (committed) and released."""

    code = "approval_failed"
    status = 409

    def __init__(self, approval: Approval):
        self.approval = approval
        super().__init__(f"This request can no longer be carried out: {approval.failure_message} It is now closed "
                         f"as failed, nothing was carried out, and what it held was released.")


# ---- Input checks ------------------------------------------------------------------------------------------------

def _clean_text(text: str, *, name: str, max_length: int, required: str = "", code: str) -> str:
    """Trimmed text with Unix line ends; `required`: the sentence asking for it when it may not be empty."""
    text = (text or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise DomainError(required, code=code)
    if len(text) > max_length:
        raise DomainError(f"The {name} is at most {max_length:,} characters; this one has {len(text):,}.", code=code)
    return text


def _plain(value, where: str) -> dict:
    """The payload or a result as plain JSON (dicts, lists, strings, integers, booleans, null): ids and amounts.
    No floats: money is integer minor units."""
    if not isinstance(value, dict):
        raise TypeError(f"{where} must be a dict")
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            raise TypeError(f"{where} holds a float; money is integer minor units")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{where} must be plain JSON (ids and amounts): {error}") from None


# ---- Requesting --------------------------------------------------------------------------------------------------

def _pending_for(kind: str, target: str) -> Approval | None:
    return (Approval.objects.filter(kind=kind, target=target, status=Approval.Status.PENDING)
            .select_related("requested_by").first())


def _replay(existing: Approval, kind: str, payload: dict) -> Approval:
    if existing.kind != kind or existing.payload != payload:
        raise RequestKeyReused()
    existing.replayed = True
    return existing


def _refuse_duplicate(kind: ApprovalKind, target: str) -> None:
    """Refuse a second pending request for the target; one past its expiry that nobody is deciding is expired now
    (SKIP LOCKED: this runs under the caller's locks, and must never wait for an approval row)."""
    existing = _pending_for(kind.code, target)
    if existing is None:
        return
    if existing.is_past_expiry:
        stale = (Approval.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
                 .select_related("customer").filter(pk=existing.pk, status=Approval.Status.PENDING).first())
        if stale is not None:
            _end_expired(stale, kind)
            return
    raise AlreadyRequested(existing, kind)


@transaction.atomic
def approval_request(*, kind: str, customer, actor, payload: dict, amount: int | None = None, currency: str = "",
                     reason: str = "", note: str = "", verdict: str, request_key: str | None = None) -> Approval:
    """Ask a manager to approve an action. Call it inside the transaction of the service whose rule answered
    "needs approval", after that service reserved what the request holds.

    `kind`: a registered code. `customer`: whose timeline tells the story (None for kinds about no customer).
    `payload`: what `execute` needs, ids and amounts only. `amount`/`currency`: for lists (minor units).
    `reason`: a code. `note`: the requester's words (optional). `verdict`: the rule's sentence that sent it here.
    `request_key`: the submission's key (user id + Idempotency-Key, or a form token): a second call with the same
    key returns the first request (`approval.replayed` is True) and changes nothing — a caller holding a
    reservation of its own looks the key up first (approval_by_request_key) so it never reserves twice.

    Refused with AlreadyRequested (409) while a request of this kind for the same duplicate_key target is pending.
    """
    spec = _registered(kind)
    payload = _plain(payload, "payload")
    note = _clean_text(note, name="note for the manager", max_length=NOTE_MAX_LENGTH, code="invalid_note")
    verdict = " ".join((verdict or "").split())
    if not verdict or len(verdict) > VERDICT_MAX_LENGTH:
        raise ValueError(f"verdict: the rule's sentence, 1 to {VERDICT_MAX_LENGTH} characters")
    if amount is not None and (type(amount) is not int or not currency):
        raise TypeError("amount is an integer in minor units, with its currency")
    if request_key:
        if existing := approval_by_request_key(request_key):
            return _replay(existing, kind, payload)
    target = spec.duplicate_key(payload) or ""
    if len(target) > TARGET_MAX_LENGTH:
        raise ValueError(f"duplicate_key of {kind} is longer than {TARGET_MAX_LENGTH} characters")
    if target:
        _refuse_duplicate(spec, target)
    now = timezone.now()
    approval = Approval(kind=kind, customer=customer, payload=payload, target=target, amount=amount,
                        currency=currency.upper() if amount is not None else "", reason=reason, note=note,
                        verdict=verdict, requested_at=now, request_key=request_key or None,
                        requested_by=actor if actor is not None and actor.is_authenticated else None,
                        expires_at=now + timedelta(hours=settings.APPROVAL_EXPIRY_HOURS))
    try:
        with transaction.atomic():  # the unique indexes are the backstop of the two checks above, under a race
            approval.save(force_insert=True)
    except IntegrityError:
        if request_key and (existing := approval_by_request_key(request_key)):
            return _replay(existing, kind, payload)
        if target and (existing := _pending_for(kind, target)):
            raise AlreadyRequested(existing, spec) from None
        raise
    approval.replayed = False
    subject = spec.subject(approval)
    audit_record(actor=actor, action="portal.approval.requested", customer=customer, obj=approval,
                 data={"approval": approval.public_id, "kind": kind, "payload": payload, "amount": amount,
                       "currency": approval.currency, "reason": reason, "note_length": len(note),
                       "expires_at": approval.expires_at.isoformat()},
                 timeline=(Timeline(spec.timeline_kind, f"{subject} sent for approval: {_sentence(verdict)}",
                                    {"approval": approval.public_id}) if customer is not None else None))
    return approval


def _sentence(text: str) -> str:
    """A verdict inside a longer sentence: "Outside the 30-day window." → "outside the 30-day window"."""
    text = text.rstrip(". ")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def approval_by_request_key(request_key: str) -> Approval | None:
    return Approval.objects.filter(request_key=request_key).first()


# ---- Deciding ----------------------------------------------------------------------------------------------------

def _lock(approval: Approval) -> Approval:
    """Lock the row, then read it with its customer and users. Two statements: a locking read that had to wait
    re-reads the locked row but not the rows it joins, so joined in one statement the decider of a request
    decided meanwhile would read as nobody."""
    Approval.objects.select_for_update(no_key=True).filter(pk=approval.pk).values_list("pk").get()
    return Approval.objects.select_related("customer", "requested_by", "decided_by").get(pk=approval.pk)


def _end(approval: Approval, status: str, *, actor=None, comment: str = "", failure: str = "",
         result: dict | None = None) -> None:
    approval.status = status
    approval.decided_by = actor if actor is not None and actor.is_authenticated else None
    approval.decided_at = timezone.now()
    approval.comment = comment
    approval.failure_message = failure[:FAILURE_MAX_LENGTH]
    approval.result = result or {}
    approval.save(update_fields=["status", "decided_by", "decided_at", "comment", "failure_message", "result"])


def _audit(approval: Approval, *, actor, action: str, summary: str, kind: ApprovalKind | None, **data) -> None:
    customer = approval.customer if approval.customer_id else None
    audit_record(actor=actor, action=f"portal.approval.{action}", customer=customer, obj=approval,
                 data={"approval": approval.public_id, "kind": approval.kind, **data},
                 timeline=(Timeline(kind.timeline_kind if kind else "support", summary,
                                    {"approval": approval.public_id}) if customer is not None else None))


def _end_expired(approval: Approval, kind: ApprovalKind | None) -> None:
    """Pending → expired, released, recorded (by the system). The caller holds the row lock."""
    hours = round((approval.expires_at - approval.requested_at).total_seconds() / 3600)
    _end(approval, Approval.Status.EXPIRED)
    if kind is not None:
        kind.release(approval)
    _audit(approval, actor=None, action="expired", kind=kind,
           summary=f"{_subject(approval, kind)} expired: no manager decided within {hours} hours")


def _carry_out(approval: Approval, kind: ApprovalKind | None, actor, comment: str) -> DomainError | None:
    """Check again and execute; on a refusal, close the request as failed and return the error to raise once the
    failure is recorded."""
    failure = ""
    if kind is None:
        failure = f"No installed part of the portal handles {approval.kind!r} requests any more."
    else:
        try:
            with transaction.atomic(), action_source("approval"):  # a refusal undoes the kind's half-done work only
                kind.check(approval)
                result = _plain(kind.execute(approval, actor) or {}, f"{approval.kind} execute() result")
        except DomainError as refusal:
            failure = refusal.message
    if failure:
        _end(approval, Approval.Status.FAILED, actor=actor, comment=comment, failure=failure)
        if kind is not None:
            kind.release(approval)
        _audit(approval, actor=actor, action="failed", kind=kind, comment_length=len(comment),
               summary=f"{_subject(approval, kind)} approved by {actor.get_username()} but not carried out: "
                       f"{_sentence(failure)}")
        return ApprovalFailed(approval)
    _end(approval, Approval.Status.APPROVED, actor=actor, comment=comment, result=result)
    _audit(approval, actor=actor, action="approved", kind=kind, result=result, comment_length=len(comment),
           summary=f"{_subject(approval, kind)} approved by {actor.get_username()}")
    return None


def _decide(approval: Approval, *, actor, comment: str, approve: bool) -> Approval:
    if not has_capability(actor, Cap.APPROVE_REQUESTS):
        raise NotAManager()
    with transaction.atomic():
        approval = _lock(approval)  # a second manager waits here, then finds it decided
        kind = kind_for(approval.kind)
        if not approval.is_pending:
            raise AlreadyDecided(approval)
        if approval.requested_by_id is not None and approval.requested_by_id == actor.pk:
            raise OwnRequest()
        if approval.is_past_expiry:
            _end_expired(approval, kind)
            outcome = ApprovalExpired(approval)
        elif approve:
            outcome = _carry_out(approval, kind, actor, comment)
        else:
            _end(approval, Approval.Status.REJECTED, actor=actor, comment=comment)
            if kind is not None:
                kind.release(approval)
            _audit(approval, actor=actor, action="rejected", kind=kind, comment_length=len(comment),
                   summary=f"{_subject(approval, kind)} rejected by {actor.get_username()}")
            outcome = None
    # Raised only now, after the block: the expired or failed state is part of the transaction that commits.
    if outcome is not None:
        raise outcome
    return approval


def approval_approve(*, approval: Approval, actor, comment: str = "") -> Approval:
    """Approve and carry out the request, once. Refused (nothing changed) when it is no longer pending, when the
    actor asked for it or lacks Cap.APPROVE_REQUESTS.

    Expired or failed at this moment: the request is ended (expired / failed, released, audited) and then
    ApprovalExpired / ApprovalFailed is raised. That ending is written in this function's own transaction, which
    has committed when the exception is raised. Called inside a transaction of the caller's (the API's
    Idempotency-Key, a test), it is part of that one: catch the error inside it (api_view and write_view do) for
    it to be committed. Were it rolled back instead, nothing is lost: the request is still pending with its
    reservation, and fails the same way at the next attempt.
    """
    comment = _clean_text(comment, name="comment", max_length=COMMENT_MAX_LENGTH, code="invalid_comment")
    return _decide(approval, actor=actor, comment=comment, approve=True)


def approval_reject(*, approval: Approval, actor, comment: str) -> Approval:
    """Reject the request with the decider's comment (required: the requester reads it on the timeline) and release
    what it held. The same refusals as approval_approve."""
    comment = _clean_text(comment, name="comment", max_length=COMMENT_MAX_LENGTH, code="invalid_comment",
                          required="Write why you reject it: the requester reads your comment.")
    return _decide(approval, actor=actor, comment=comment, approve=False)


# ---- Expiry ------------------------------------------------------------------------------------------------------

def approvals_expire(*, batch_size: int = EXPIRE_BATCH) -> int:
    """End every pending request past its expiry: expired, released, recorded. Returns how many.

    Idempotent and safe to run late or twice at once: each batch locks its rows with SKIP LOCKED (a request being
    decided right now is left to its decider, who expires it), one transaction per batch.
    """
    ended, last_id = 0, 0
    while True:
        with transaction.atomic():
            batch = list(Approval.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
                         .select_related("customer")
                         .filter(status=Approval.Status.PENDING, expires_at__lte=timezone.now(), id__gt=last_id)
                         .order_by("id")[:batch_size])
            for approval in batch:
                try:
                    with transaction.atomic():
                        _end_expired(approval, kind_for(approval.kind))
                except Exception:  # one request whose release fails must not keep all the others pending
                    logger.exception("approval.expire_failed", approval=approval.public_id, kind=approval.kind)
                else:
                    ended += 1
        if len(batch) < batch_size:
            return ended
        last_id = batch[-1].pk


# ---- Erasure -----------------------------------------------------------------------------------------------------

def erase_free_text(customer) -> int:
    """Blank the free texts (the requester's note, the decider's comment) of the customer's requests, for the
    erasure job, which records the erasure itself. Ids, amounts, codes and outcomes stay. Returns the rows changed."""
    return Approval.objects.filter(customer=customer).exclude(note="", comment="").update(note="", comment="")
