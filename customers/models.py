"""Customers, where they bought (storefronts), tags, notes and the customer timeline."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from portal.context import SOURCES
from portal.ids import new_customer_id


class Storefront(models.Model):
    class Kind(models.TextChoices):
        WEB = "web", "Web"
        APP_STORE = "app_store", "App Store"
        GOOGLE_PLAY = "google_play", "Google Play"
        PARTNER = "partner", "Partner"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    refund_window_days = models.PositiveSmallIntegerField(null=True, blank=True,
                                                          help_text="Overrides the portal default when set.")

    def __str__(self) -> str:
        return self.name

    @property
    def refunds_elsewhere(self) -> bool:
        """App stores own their refunds: the portal cannot refund those payments."""
        return self.kind in (self.Kind.APP_STORE, self.Kind.GOOGLE_PLAY)


class Tag(models.Model):
    name = models.CharField(max_length=40, unique=True)  # normalised: lower case, single spaces

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        CHURNED = "churned", "Churned"
        ERASED = "erased", "Erased"

    public_id = models.CharField(max_length=24, unique=True, default=new_customer_id, editable=False)
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80)
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=32, blank=True)
    address_line1 = models.CharField(max_length=120, blank=True)
    address_line2 = models.CharField(max_length=120, blank=True)
    city = models.CharField(max_length=80, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2; the directory's region filter")
    storefront = models.ForeignKey(Storefront, on_delete=models.PROTECT, related_name="customers")
    registered_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.INACTIVE)
    # Kept current by subscription services (event-driven), so lists can sort by them without joins.
    plan = models.ForeignKey("subscriptions.Plan", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", help_text="Plan of the live subscription, if any")
    mrr = models.BigIntegerField(default=0, help_text="Monthly recurring revenue in minor units")
    currency = models.CharField(max_length=3, default="USD")
    # MRR in minor units of settings.REPORTING_CURRENCY (portal.money.to_reporting), so the directory sorts dollars,
    # euros and pounds on one scale. Rates change: `manage.py recompute_mrr_reporting` rewrites it set-based.
    mrr_reporting = models.BigIntegerField(default=0, help_text="MRR converted to the reporting currency")
    # What the customer's subscription is doing, for lists and the profile header without a join: the live
    # subscription's status, else the latest one's ("" = never subscribed), and the date that matters in it.
    subscription_state = models.CharField(max_length=10, blank=True, default="")
    trial_ends_at = models.DateTimeField(null=True, blank=True, help_text="Set while in trial")
    payment_failing_since = models.DateTimeField(null=True, blank=True,
                                                 help_text="Set while in grace: the renewal that failed")
    resumes_on = models.DateField(null=True, blank=True, help_text="Set while paused, when a resume date is given")
    # One lowercased column for substring search (name, email, public id) with one trigram index.
    search_text = models.GeneratedField(
        expression=Lower(models.functions.Concat(
            "first_name", models.Value(" "), "last_name", models.Value(" "), "email", models.Value(" "),
            "public_id", output_field=models.TextField())),
        output_field=models.TextField(),
        db_persist=True,
    )
    tags = models.ManyToManyField(Tag, through="CustomerTag", related_name="customers", blank=True)
    # The agent who looks after this customer ("my customers"); set by customers.services.customer_owner_set.
    # No index of its own: the directory's owner indexes (migration 0006) lead with owner_id and cover owned rows.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="owned_customers", db_index=False)
    # When the oldest open escalation of this customer (or of one of their tickets) was raised; None when none is
    # open. Kept by support/escalations.py, so the directory and the header mark escalated customers without a join.
    escalated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(mrr__gte=0), name="customer_mrr_not_negative"),
        ]
        indexes = [
            models.Index(Lower("email"), name="customer_email_lower"),
            GinIndex(fields=["search_text"], opclasses=["gin_trgm_ops"], name="customer_search_trgm"),
            # The default sort (newest first); search_text rides along so a searched walk is an index-only scan.
            models.Index(fields=["registered_at", "id"], include=["search_text"], name="customer_registered"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.public_id})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def grace_ends_at(self):
        """In grace: when access stops if the last dunning retry fails too (retries on the configured days after
        the first failed charge, payments/dunning.py). None outside grace or without a retry schedule."""
        from payments.dunning import retry_days, schedule_ends_at

        if self.payment_failing_since is None or not retry_days():
            return None
        return schedule_ends_at(self.payment_failing_since)


class CustomerMetrics(models.Model):
    """Figures the nightly job rewrites for everyone, kept off the wide customer row."""

    customer = models.OneToOneField(Customer, primary_key=True, on_delete=models.CASCADE, related_name="metrics")
    lifetime_value = models.BigIntegerField(default=0)  # succeeded payments minus refunds, minor units
    total_paid = models.BigIntegerField(default=0)
    payments_count = models.IntegerField(default=0)
    last_payment_at = models.DateTimeField(null=True, blank=True)
    usage_last_30d = models.IntegerField(default=0)
    usage_prev_60d_monthly_avg = models.IntegerField(default=0)
    computed_at = models.DateTimeField(null=True, blank=True)


class CustomerTag(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="customer_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="customer_tags")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "tag"], name="customer_tag_once")]


class Note(models.Model):
    """Internal note, visible to portal users only. Shown escaped, never as HTML."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "-created_at", "-id"], name="note_customer_time")]


class ActivityEvent(models.Model):
    """The customer timeline: what happened to this customer, by whom, through which channel."""

    class Kind(models.TextChoices):
        SUBSCRIPTION = "subscription", "Subscription"
        PAYMENT = "payment", "Payment"
        PROFILE = "profile", "Profile"
        SUPPORT = "support", "Support"
        CAMPAIGN = "campaign", "Campaign"
        PRIVACY = "privacy", "Privacy"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="activity")
    created_at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    action = models.CharField(max_length=80)  # dotted code, e.g. subscription.cancelled
    source = models.CharField(max_length=16, choices=[(s, s.capitalize()) for s in SOURCES], default="system")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    summary = models.CharField(max_length=255)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "-created_at", "-id"], name="activity_customer_time")]


class UsageDaily(models.Model):
    """Product usage per customer per day (sessions), the input of the At-Risk segment. Days without use have no row."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="usage")
    day = models.DateField()
    sessions = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "day"], name="usage_once_per_day")]
