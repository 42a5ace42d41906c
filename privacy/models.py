"""Consent records: one per purpose and channel change, with time, source and the policy version shown."""

from django.db import models


class Consent(models.Model):
    class Purpose(models.TextChoices):
        MARKETING = "marketing", "Marketing"
        PRODUCT_UPDATES = "product_updates", "Product updates"
        RESEARCH = "research", "Research and surveys"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        PUSH = "push", "Push"

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=40, help_text="signup_form, preference_center, agent, import...")
    version = models.CharField(max_length=20, help_text="Version of the consent text shown")
    recorded_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["customer", "purpose", "channel", "-recorded_at"], name="consent_latest")]
