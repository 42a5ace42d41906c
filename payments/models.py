"""Money: payment methods, invoices, payments, refunds and the credit ledger. All amounts are integer minor units."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from portal.ids import new_invoice_id, new_payment_id, new_refund_id


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

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(subtotal__gte=0) & Q(tax__gte=0) & Q(credit_applied__gte=0),
                                   name="invoice_amounts_not_negative"),
            models.CheckConstraint(condition=Q(total=F("subtotal") + F("tax")), name="invoice_total_adds_up"),
        ]
        indexes = [models.Index(fields=["customer", "-issued_at", "-id"], name="invoice_customer_time")]

    def __str__(self) -> str:
        return self.number


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REFUNDED = "refunded", "Refunded"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"

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

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
            models.CheckConstraint(condition=Q(amount_refunded__gte=0) & Q(amount_refunded__lte=F("amount")),
                                   name="payment_refunds_within_amount"),
        ]
        indexes = [models.Index(fields=["customer", "-created_at", "-id"], name="payment_customer_time")]

    def __str__(self) -> str:
        return self.public_id

    def refundable_amount(self) -> int:
        if self.status not in self.CAPTURED_STATUSES:
            return 0
        return self.amount - self.amount_refunded


class Refund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    public_id = models.CharField(max_length=24, unique=True, default=new_refund_id, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    idempotency_key = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self) -> str:
        return self.public_id


class CreditEntry(models.Model):
    """The credit ledger: grants add to the balance, applications (to invoices) and expiries take from it."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Credit added"
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

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="credit_amount_positive")]
        indexes = [models.Index(fields=["customer", "-created_at"], name="credit_customer_time")]

    @property
    def signed_amount(self) -> int:
        return self.amount if self.kind == self.Kind.GRANT else -self.amount
