"""The shared kernel's tables: capabilities (permissions only), the append-only audit and access logs, API tokens,
idempotent API requests, and four-eyes approval requests."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from portal.context import SOURCES
from portal.ids import new_approval_id
from portal.roles import CAPABILITIES


class Capability(models.Model):
    """No table: carries the permission codenames that roles (groups) are made of (see portal/roles.py)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = list(CAPABILITIES.items())


SOURCE_CHOICES = [(s, s.capitalize()) for s in SOURCES]


class AuditEvent(models.Model):
    """One row per change: who did what to which object, with before/after.

    Append-only, enforced by the database (portal/audit_chain.py): the application role may only INSERT and
    SELECT; a trigger refuses UPDATE and DELETE, sets `id` and `created_at` itself, and links each row to the one
    before it with a SHA-256 hash chain that `manage.py audit_verify` checks.
    """

    created_at = models.DateTimeField(db_default=Now(), db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
                              db_constraint=False, related_name="+")
    actor_label = models.CharField(max_length=150, blank=True)  # kept even if the user is removed
    source = models.CharField(max_length=16, choices=SOURCE_CHOICES, default="agent")
    action = models.CharField(max_length=80, db_index=True)  # dotted: payments.refund.created
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=40, blank=True)  # public id where there is one
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.DO_NOTHING,
                                 db_constraint=False, related_name="+")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    data = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64, db_default="", editable=False)  # row_hash of the row before
    row_hash = models.CharField(max_length=64, db_default="", editable=False)

    class Meta:
        indexes = [models.Index(fields=["customer", "-created_at"], name="audit_customer_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label or 'system'} {self.action}"


class AccessLog(models.Model):
    """One row per read of a customer's data: who, which customer, which view, when, from where.

    Append-only like AuditEvent (privileges and a trigger; `created_at` is set by the database), without the hash
    chain: it is written on every read, and a chain would make those reads wait for each other.
    """

    created_at = models.DateTimeField(db_default=Now())
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING,
                             db_constraint=False, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.DO_NOTHING, db_constraint=False,
                                 related_name="+")
    view = models.CharField(max_length=80)  # URL name (+ tab, + write method): customers:profile_tab:payments
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [
            # One index per filter of the access-log viewer, each in its (created_at, id) keyset order.
            models.Index(fields=["customer", "-created_at", "-id"], name="access_customer_time"),
            models.Index(fields=["user", "-created_at", "-id"], name="access_user_time"),
            models.Index(fields=["-created_at", "-id"], name="access_time"),
        ]


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        """Tokens that still authenticate: not revoked and not past their expiry."""
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()), revoked_at__isnull=True)


class ApiToken(models.Model):
    """A per-user bearer token. Only a SHA-256 of the secret is stored; the secret is shown once."""

    PREFIX = "cpt_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    key_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12)  # first characters, so the owner can tell tokens apart
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # null: never expires

    objects = ApiTokenQuerySet.as_manager()

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def new_secret(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"


class IdempotentRequest(models.Model):
    """An API write sent with an Idempotency-Key (the rules are in portal/idempotency.py).

    The row is reserved (committed, no response yet) before the endpoint runs; the response is stored in the
    endpoint's own transaction. A response may carry a customer's personal data, so, unlike audit rows, these
    rows are deletable: after IDEMPOTENCY_KEY_TTL_HOURS by a daily task, and by a customer's erasure.
    """

    KEY_MAX_LENGTH = 255

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    fingerprint = models.CharField(max_length=64)  # sha256 of method, full path and body
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)  # for people reading the table; the fingerprint is what is compared
    status_code = models.PositiveSmallIntegerField(null=True)  # null: reserved, not finished
    response_body = models.JSONField(null=True)
    # The customers the response shows: a replay is access-logged for them, and erasure deletes their rows.
    customer_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(db_default=Now(), db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user")]


class Approval(models.Model):
    """A request that a second person, a manager, must approve before it is carried out (four eyes).

    The rules are in portal/approvals.py: each `kind` is registered there by the app that owns the action, with the
    checks it runs again at decision time and the service it calls on approval. The requester never decides their
    own request; two managers deciding at once carry it out once (the row is locked while it is decided).

    `payload`, like the audit rows, holds ids and amounts only, never a personal value. The free texts (the
    requester's `note`, the decider's `comment`, the `failure_message`) live in this row alone, which is not
    append-only: a customer's erasure blanks them (portal.approvals.erase_free_text). The customer is PROTECTed:
    erasure anonymises the customer row and keeps it, so the request history stays whole.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Failed"

    ENDED_STATUSES = (Status.APPROVED, Status.REJECTED, Status.EXPIRED, Status.FAILED)
    NOTE_MAX_LENGTH = 2000
    COMMENT_MAX_LENGTH = 1000

    public_id = models.CharField(max_length=24, unique=True, default=new_approval_id, editable=False)
    kind = models.CharField(max_length=60)  # a registered ApprovalKind code: payments.refund
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="approvals")
    payload = models.JSONField(default=dict, blank=True)  # what the kind needs to act: ids and amounts only
    # The kind's duplicate_key(payload): at most one pending request per kind and target ("" = no such rule).
    target = models.CharField(max_length=200, blank=True, default="")
    amount = models.BigIntegerField(null=True, blank=True)  # minor units, for listing and sorting
    currency = models.CharField(max_length=3, blank=True, default="")
    reason = models.CharField(max_length=40, blank=True, default="")  # a code: requested_by_customer
    note = models.TextField(max_length=NOTE_MAX_LENGTH, blank=True, default="")  # the requester's words
    verdict = models.CharField(max_length=300)  # the rule's sentence that sent it here
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+", db_index=False)  # approval_requester leads with it
    requested_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)  # also when it expired or failed
    comment = models.TextField(max_length=COMMENT_MAX_LENGTH, blank=True, default="")
    failure_message = models.CharField(max_length=500, blank=True, default="")
    result = models.JSONField(default=dict, blank=True)  # ids of what the approved action created
    # The submission that made this request (user id + Idempotency-Key, or a form token): one request per key.
    request_key = models.CharField(max_length=300, null=True, blank=True, unique=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "target"], condition=Q(status="pending") & ~Q(target=""),
                                    name="approval_one_pending_per_target"),
            models.CheckConstraint(condition=Q(status="pending") | Q(decided_at__isnull=False),
                                   name="approval_ended_has_time"),
        ]
        indexes = [
            # The pending queue, oldest first, and its count (the sidebar badge).
            models.Index(fields=["status", "requested_at", "id"], name="approval_queue"),
            # The decided list, most recent decision first.
            models.Index(fields=["-decided_at", "-id"], name="approval_decided",
                         condition=Q(decided_at__isnull=False)),
            # "My requests", newest first.
            models.Index(fields=["requested_by", "-requested_at", "-id"], name="approval_requester"),
            # Expiry sweep: pending rows past their time.
            models.Index(fields=["expires_at"], name="approval_expiry", condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING

    @property
    def is_past_expiry(self) -> bool:
        return self.expires_at <= timezone.now()
