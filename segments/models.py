"""Segments and who is in them (with why and since). Filled by the nightly job."""

from django.db import models


class Segment(models.Model):
    class Code(models.TextChoices):
        NEW = "new", "New"
        LOYAL = "loyal", "Loyal"
        AT_RISK = "at_risk", "At-Risk"
        HIGH_VALUE = "high_value", "High-Value"
        CHURNED = "churned", "Churned"

    code = models.CharField(max_length=16, choices=Code.choices, unique=True)
    name = models.CharField(max_length=40)
    description = models.CharField(max_length=255)
    suggested_action = models.CharField(max_length=255)

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="segment_memberships")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    reason = models.CharField(max_length=255)
    since = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "customer"], name="segment_member_once")]
        indexes = [models.Index(fields=["customer"], name="segment_member_customer")]
