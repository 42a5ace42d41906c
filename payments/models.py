"""Money: payment methods, invoices, payments, refunds and the credit ledger. All amounts are integer minor units."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from portal.ids import new_card_link_id, new_invoice_id, new_payment_id, new_refund_id


class PaymentMethod(models.Model):
    class Kind(models.TextChoices):
        CARD = "card", "Card"
        PAYPAL = "paypal", "PayPal"
        SEPA = "sepa_debit", "SEPA debit"
        APP_STORE = "app_store", "App Store billing"
        GOOGLE_PLAY = "google_play", "Google Play billing"

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="payment_methods")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    brand = models.CharField(max_length=20, blank=True)  # visa, mastercard, amex...
    last4 = models.CharField(max_length=4, blank=True)  # never more than the last four digits
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)
    gateway = models.CharField(max_length=16, default="sandbox")
    gateway_ref = models.CharField(max_length=64, blank=True)
    gateway_customer_ref = models.CharField(max_length=64, blank=True, default="", db_default="", help_text="The customer at the gateway")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer"], condition=Q(is_default=True), name="one_default_method"),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.CARD:
            return f"{self.brand.title()} •••• {self.last4}"
        return self.get_kind_display()


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        PAID = "paid", "Paid"
        VOID = "void", "Void"
        UNCOLLECTIBLE = "uncollectible", "Uncollectible"

    class BillingReason(models.TextChoices):
        # A subscription's billing period: a renewal, the first period after a trial, a resume. At most one per
        # subscription and period start (constraint below).
        CYCLE = "subscription_cycle", "Subscription period"
        UPDATE = "subscription_update", "Plan change"
        MANUAL = "manual", "Manual"

    public_id = models.CharField(max_length=24, unique=True, default=new_invoice_id, editable=False)
    number = models.CharField(max_length=32, unique=True)  # human number printed on the document
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey("subscriptions.Subscription", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="invoices")
    status = models.CharField(max_length=14, choices=Status.choices)
    currency = models.CharField(max_length=3)
    # Lines are part of the issued document: [{"description", "quantity", "unit_amount", "amount"}].
    lines = models.JSONField(default=list)
    subtotal = models.BigIntegerField()
    tax = models.BigIntegerField(default=0)
    total = models.BigIntegerField()
    credit_applied = models.BigIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Dunning: when the billing job charges this open invoice again (None: no retry planned, e.g. a hard decline).
    next_retry_at = models.DateTimeField(null=True, blank=True)
    # When its first charge failed: the dunning schedule's retry days are counted from here (payments/dunning.py).
    payment_failed_at = models.DateTimeField(null=True, blank=True)
    # Why it was issued ("" for invoices older than the field).
    billing_reason = models.CharField(max_length=20, choices=BillingReason.choices, blank=True, default="",
                                      db_default="")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(subtotal__gte=0) & Q(tax__gte=0) & Q(credit_applied__gte=0),
                                   name="invoice_amounts_not_negative"),
            models.CheckConstraint(condition=Q(total=F("subtotal") + F("tax")), name="invoice_total_adds_up"),
            # Never two invoices for one billing period, however many billing jobs run at once.
            models.UniqueConstraint(fields=["subscription", "period_start"], name="invoice_one_per_period",
                                    condition=Q(billing_reason="subscription_cycle")),
        ]
        indexes = [
            models.Index(fields=["customer", "-issued_at", "-id"], name="invoice_customer_time"),
            # The dunning job's two walks: retries that are due, and invoices waiting with none planned (a hard
            # decline waiting for a new card, the end of the schedule).
            models.Index(fields=["next_retry_at", "id"], name="invoice_retry_due",
                         condition=Q(status="open", next_retry_at__isnull=False)),
            models.Index(fields=["payment_failed_at", "id"], name="invoice_dunning_waiting",
                         condition=Q(status="open", next_retry_at__isnull=True, payment_failed_at__isnull=False)),
            # A customer's invoices in dunning (the cancel guardrail on every Subscriptions tab): a few rows at most.
            models.Index(fields=["customer"], name="invoice_in_dunning_by_customer",
                         condition=Q(status="open", next_retry_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.number


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REFUNDED = "refunded", "Refunded"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        # The gateway was asked and did not answer clearly (a timeout): never a guess; reconciliation asks again.
        UNKNOWN = "unknown", "Unknown (checking with the gateway)"

    class DeclineType(models.TextChoices):
        SOFT = "soft", "Soft decline (retry)"
        HARD = "hard", "Hard decline (needs a new method)"

    CAPTURED_STATUSES = (Status.SUCCEEDED, Status.REFUNDED, Status.PARTIALLY_REFUNDED)

    public_id = models.CharField(max_length=24, unique=True, default=new_payment_id, editable=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payments")
    payment_method = models.ForeignKey(PaymentMethod, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="payments")
    amount = models.BigIntegerField()
    amount_refunded = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=18, choices=Status.choices)
    failure_code = models.CharField(max_length=40, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    decline_type = models.CharField(max_length=4, choices=DeclineType.choices, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    gateway = models.CharField(max_length=16, default="sandbox")
    gateway_ref = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    # Refunds not yet settled (pending or unknown at the gateway, or awaiting a manager's approval): counted against
    # the refundable amount so that the sum of all refunds can never pass what was captured.
    amount_refund_pending = models.BigIntegerField(default=0, db_default=0)
    disputed = models.BooleanField(default=False, db_default=False, help_text="An open dispute (chargeback): no refunds here")
    # The idempotency key sent to the gateway with the charge: the same on every retry of this one attempt.
    gateway_key = models.CharField(max_length=64, blank=True, default="", db_default="")
    submitted_at = models.DateTimeField(null=True, blank=True, help_text="When the gateway was asked to charge")
    # The portal request that created this attempt (user id + Idempotency-Key, or a form token): executes once.
    request_key = models.CharField(max_length=300, null=True, blank=True, unique=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
            models.CheckConstraint(condition=Q(amount_refunded__gte=0) & Q(amount_refunded__lte=F("amount")),
                                   name="payment_refunds_within_amount"),
            models.CheckConstraint(
                condition=Q(amount_refund_pending__gte=0)
                & Q(amount_refund_pending__lte=F("amount") - F("amount_refunded")),
                name="payment_pending_refunds_within_amount"),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at", "-id"], name="payment_customer_time"),
            # A customer's unsettled charges (the cancel guardrail on every Subscriptions tab), without walking a
            # long history: pending and unknown payments are a handful in millions.
            models.Index(fields=["customer"], name="payment_unsettled_by_customer",
                         condition=Q(status__in=["pending", "unknown"])),
        ]

    def __str__(self) -> str:
        return self.public_id

    def refundable_amount(self) -> int:
        """What may still be refunded: captured, less refunds made, pending or awaiting approval."""
        if self.status not in self.CAPTURED_STATUSES:
            return 0
        return max(self.amount - self.amount_refunded - self.amount_refund_pending, 0)


class Refund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Unknown (checking with the gateway)"

    class Reason(models.TextChoices):
        DUPLICATE = "duplicate", "Duplicate charge"
        REQUESTED_BY_CUSTOMER = "requested_by_customer", "Requested by the customer"
        SERVICE_PROBLEM = "service_problem", "Service problem"
        FRAUDULENT = "fraudulent", "Fraudulent"
        OTHER = "other", "Other"

    UNSETTLED_STATUSES = (Status.PENDING, Status.UNKNOWN)

    public_id = models.CharField(max_length=24, unique=True, default=new_refund_id, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=255, blank=True)  # the agent's words (older refunds: only these)
    reason_code = models.CharField(max_length=24, choices=Reason.choices, blank=True, default="", db_default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    # The idempotency key sent to the gateway: chosen with the row, the same on every retry of this refund.
    idempotency_key = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField()
    gateway_ref = models.CharField(max_length=64, blank=True, default="", db_default="")
    failure_message = models.CharField(max_length=255, blank=True, default="", db_default="")
    submitted_at = models.DateTimeField(null=True, blank=True, help_text="When the gateway was asked to refund")
    settled_at = models.DateTimeField(null=True, blank=True)
    request_key = models.CharField(max_length=300, null=True, blank=True, unique=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]
        indexes = [models.Index(fields=["status", "submitted_at"], name="refund_unsettled",
                                condition=Q(status__in=["pending", "unknown"]))]

    def __str__(self) -> str:
        return self.public_id


class CreditEntry(models.Model):
    """The credit ledger: grants add to the balance, applications (to invoices) and expiries take from it."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Credit added"
        DEBIT = "debit", "Credit removed"
        APPLIED = "applied", "Applied to invoice"
        EXPIRED = "expired", "Expired"

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="credit_entries")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = models.BigIntegerField(help_text="Always positive; the kind says which way it moves the balance")
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=255, blank=True)
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()
    request_key = models.CharField(max_length=300, null=True, blank=True, unique=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="credit_amount_positive")]
        indexes = [models.Index(fields=["customer", "-created_at"], name="credit_customer_time")]

    @property
    def signed_amount(self) -> int:
        return self.amount if self.kind == self.Kind.GRANT else -self.amount


class PaymentMethodLink(models.Model):
    """A single-use link emailed to the customer to add a new card. The URL carries a signed token naming this row;
    the row says whether it was used. Nothing secret is stored."""

    public_id = models.CharField(max_length=24, unique=True, default=new_card_link_id, editable=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="card_links")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    payment_method = models.ForeignKey(PaymentMethod, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+", help_text="The method the customer added with it")
    # Gateway side of the card form (a SetupIntent id with Stripe), started when the page is first opened.
    gateway_setup_ref = models.CharField(max_length=64, blank=True)
    gateway_customer_ref = models.CharField(max_length=64, blank=True,
                                            help_text="The customer at the gateway the new card is attached to")
    # Cards the gateway refused through this link; past settings.CARD_LINK_MAX_ATTEMPTS the link stops working, so
    # it cannot be used to test a list of card numbers.
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    email = models.ForeignKey("support.EmailMessage", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", help_text="The email that carried the link")
    # The agent's request that issued it (user id + form token or Idempotency-Key): a double submit sends one.
    request_key = models.CharField(max_length=300, null=True, blank=True, unique=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "-created_at"], name="card_link_customer_time")]

    def __str__(self) -> str:
        return self.public_id


class GatewayEvent(models.Model):
    """A webhook event the portal has applied: its id is unique, so a repeated delivery has no second effect."""

    gateway = models.CharField(max_length=16)
    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    object_ref = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["gateway", "event_id"], name="gateway_event_once")]


class SandboxOperation(models.Model):
    """The sandbox gateway's own books: what it charged, refunded and stored. Plays the part of the payment
    provider's database, so reconciliation can ask "did this happen?" after a timeout. Never edited by the portal."""

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"
        SETUP = "setup", "Card setup"

    ref = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=16)  # succeeded / pending / failed (gateway words)
    amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    card = models.CharField(max_length=64, blank=True, help_text="The sandbox card token charged or stored")
    parent_ref = models.CharField(max_length=64, blank=True, help_text="A refund's charge")
    failure_code = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField()
    settles_at = models.DateTimeField(null=True, blank=True, help_text="A pending charge succeeds at this time")


class SandboxFault(models.Model):
    """A test switch: the next sandbox call (of `operation`, or any) declines, errors, times out, or succeeds and
    then times out. Used once, by whichever process calls first."""

    class Fault(models.TextChoices):
        DECLINE = "decline", "Decline"
        ERROR = "error", "Gateway error"
        TIMEOUT = "timeout", "Time out before doing anything"
        SUCCEED_THEN_TIMEOUT = "succeed_then_timeout", "Succeed, then time out before answering"

    operation = models.CharField(max_length=8, blank=True, help_text="charge, refund or setup; blank: any")
    fault = models.CharField(max_length=24, choices=Fault.choices)
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class PaymentRules(models.Model):
    """The refund and credit knobs an Admin sets in Configuration (one row; defaults from the environment).
    payments/policy.py is where they are applied. Limits are in minor units of the reporting currency."""

    default_refund_window_days = models.PositiveSmallIntegerField(
        help_text="Days after a payment during which it may be refunded without approval, unless its plan or "
                  "storefront sets its own window")
    agent_refund_limit = models.BigIntegerField(help_text="Largest refund an agent makes without approval")
    manager_refund_limit = models.BigIntegerField(help_text="Largest refund a manager makes without approval")
    agent_credit_limit = models.BigIntegerField(help_text="Largest credit grant an agent makes without approval")
    manager_credit_limit = models.BigIntegerField(help_text="Largest credit grant a manager makes without approval")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "refund and credit rules"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="payment_rules_single_row"),
            models.CheckConstraint(condition=Q(agent_refund_limit__gte=0) & Q(manager_refund_limit__gte=0)
                                   & Q(agent_credit_limit__gte=0) & Q(manager_credit_limit__gte=0),
                                   name="payment_rules_limits_not_negative"),
        ]

    def __str__(self) -> str:
        return "Refund and credit rules"
