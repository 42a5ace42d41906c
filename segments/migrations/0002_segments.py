"""The five segments with their suggested actions. Membership is computed by the nightly job."""

from django.db import migrations

SEGMENTS = [
    ("new", "New", "Registered in the last 30 days.",
     "Onboard: send the welcome series and check they reached first value."),
    ("loyal", "Loyal", "Subscribed without a gap for 6+ months and active in each of the last 3 months.",
     "Reward: thank them, offer the annual plan or a referral perk."),
    ("at_risk", "At-Risk", "Usage fell below half its usual level, a payment failed in the last 30 days, "
     "or the subscription is in grace or suspended.",
     "Save: reach out personally, fix the payment method, offer help or a pause."),
    ("high_value", "High-Value", "Top 10% of live customers by lifetime value.",
     "Protect: priority support and a named contact."),
    ("churned", "Churned", "Cancelled in the last 90 days with nothing live.",
     "Win back: ask why they left and offer a comeback discount."),
]


def create_segments(apps, schema_editor):
    Segment = apps.get_model("segments", "Segment")
    for code, name, description, action in SEGMENTS:
        Segment.objects.update_or_create(code=code, defaults={"name": name, "description": description,
                                                              "suggested_action": action})


class Migration(migrations.Migration):
    dependencies = [("segments", "0001_initial")]
    operations = [migrations.RunPython(create_segments, migrations.RunPython.noop)]
