"""Plans (what is sold) and subscriptions (who has which plan, in which state)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce

from portal.ids import new_subscription_id


class Plan(models.Model):
    class Interval(models.TextChoices):
        MONTH = "month", "Monthly"
        YEAR = "year", "Yearly"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=255, blank=True)
    features = models.JSONField(default=list, blank=True, help_text="What the bundle includes")
    price = models.BigIntegerField(help_text="Minor units per interval")
    currency = models.CharField(max_length=3, default="USD")
    interval = models.CharField(max_length=8, choices=Interval.choices, default=Interval.MONTH)
    trial_days = models.PositiveSmallIntegerField(default=0)
    refund_window_days = models.PositiveSmallIntegerField(null=True, blank=True,
                                                          help_text="Overrides storefront and portal default")
    is_active = models.BooleanField(default=True, help_text="Offered for new subscriptions and plan changes")
    rank = models.PositiveSmallIntegerField(default=0, help_text="Higher is a bigger plan (upgrade direction)")

    class Meta:
        ordering = ["rank", "price"]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="plan_price_not_negative")]

    def __str__(self) -> str:
        return self.name

    @property
    def monthly_price(self) -> int:
        """Price normalised to a month, for MRR (integer division rounds down a fraction of a cent)."""
        return self.price // 12 if self.interval == self.Interval.YEAR else self.price


class Subscription(models.Model):
    class CancelReason(models.TextChoices):
        TOO_EXPENSIVE = "too_expensive", "Too expensive"
        NOT_USING = "not_using", "Not using it"
        MISSING_FEATURE = "missing_feature", "Missing a feature"
        SWITCHING = "switching", "Switching to another provider"
        TECHNICAL = "technical", "Technical problem"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        TRIAL = "trial", "Trial"
        ACTIVE = "active", "Active"
        GRACE = "grace", "Grace"
        PAUSED = "paused", "Paused"
        SUSPENDED = "suspended", "Suspended"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    LIVE_STATUSES = (Status.TRIAL, Status.ACTIVE, Status.GRACE, Status.PAUSED)
    ENDED_STATUSES = (Status.CANCELLED, Status.EXPIRED)

    public_id = models.CharField(max_length=24, unique=True, default=new_subscription_id, editable=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=10, choices=Status.choices)
    started_at = models.DateTimeField()
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=255, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    resume_on = models.DateField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    scheduled_plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                       help_text="Plan that takes effect at the next renewal")
    payment_method = models.ForeignKey("payments.PaymentMethod", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="subscriptions")
    # The structured reason of a cancel (CancelReason); `cancellation_reason` keeps the words of older data.
    cancel_reason = models.CharField(max_length=16, choices=CancelReason.choices, blank=True, default="",
                                     db_default="")
    # "Cancel once it settles": a cancel (now / period_end) waiting for a pending payment; "" when none waits.
    cancel_after_settle = models.CharField(max_length=12, blank=True, default="", db_default="")
    # A retention discount: this percentage off the next `discount_cycles_left` renewals.
    discount_percent = models.PositiveSmallIntegerField(default=0, db_default=0)
    discount_cycles_left = models.PositiveSmallIntegerField(default=0, db_default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(discount_percent__lte=100), name="subscription_discount_percent"),
            # A customer has at most one live subscription; changing plan changes it in place.
            models.UniqueConstraint(fields=["customer"], condition=Q(status__in=["trial", "active", "grace", "paused"]),
                                    name="one_live_subscription_per_customer"),
            models.CheckConstraint(condition=Q(current_period_end__gte=models.F("current_period_start")),
                                   name="subscription_period_ordered"),
        ]
        indexes = [
            models.Index(fields=["customer", "-started_at"], name="subscription_customer_start"),
            # The billing jobs' walks (subscriptions/billing.py), each over the few rows that can be due.
            models.Index(Coalesce("trial_end", "current_period_end"), "id", name="subscription_trial_due",
                         condition=Q(status="trial", cancel_at_period_end=False)),
            models.Index(fields=["current_period_end", "id"], name="subscription_renewal_due",
                         condition=Q(status="active", cancel_at_period_end=False)),
            models.Index(fields=["current_period_end", "id"], name="subscription_period_end_due",
                         condition=Q(status__in=["trial", "active", "grace", "paused"], cancel_at_period_end=True)),
            models.Index(fields=["resume_on", "id"], name="subscription_resume_due",
                         condition=Q(status="paused", resume_on__isnull=False)),
            models.Index(fields=["suspended_at", "id"], name="subscription_suspended_since",
                         condition=Q(status="suspended")),
            models.Index(fields=["id"], name="subscription_cancel_waiting", condition=~Q(cancel_after_settle="")),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.plan} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES


class RetentionOffer(models.Model):
    """An offer made to keep a customer who asked to cancel, routed by their reason (subscriptions/retention.py),
    and what they said: the report of offers made, accepted and revenue saved reads these rows."""

    class Kind(models.TextChoices):
        PAUSE = "pause", "Pause instead"
        DISCOUNT = "discount", "Discount for a few cycles"
        DOWNGRADE = "downgrade", "A cheaper plan"
        NONE = "none", "No offer"

    class Status(models.TextChoices):
        OFFERED = "offered", "Offered"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="retention_offers")
    reason = models.CharField(max_length=16, choices=Subscription.CancelReason.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    terms = models.JSONField(default=dict, blank=True, help_text="ids and numbers only: percent, cycles, plan code")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OFFERED)
    # Monthly revenue kept when accepted (minor units, subscription currency): the plan's monthly price less what
    # the offer gives away.
    mrr_saved = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    # The cancel dialog's one-time token (with the agent): showing the offer step twice records one offer.
    request_key = models.CharField(max_length=300, null=True, blank=True, unique=True)

    class Meta:
        indexes = [models.Index(fields=["reason", "status"], name="retention_offer_reason"),
                   models.Index(fields=["created_at"], name="retention_offer_created")]


class SubscriptionRequest(models.Model):
    """An agent's request to act on a subscription, kept by its request key (a form token, or the user and the API's
    Idempotency-Key): the same request sent again (a double submit, a retried call) answers with what the first one
    did, and never acts twice. Ids, amounts and the sentences shown to the agent only: no personal values."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="requests")
    action = models.CharField(max_length=24)
    params = models.JSONField(default=dict, blank=True, help_text="what was asked: plan code, when, days, …")
    request_key = models.CharField(max_length=300, unique=True)
    changed = models.BooleanField()
    message = models.CharField(max_length=500)
    impact = models.JSONField(default=dict, help_text="the impact the action had, as the API shows it")
    invoice = models.ForeignKey("payments.Invoice", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", help_text="the invoice the action issued (a proration)")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()
