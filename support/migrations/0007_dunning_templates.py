"""The emails the billing job sends about an unpaid invoice (subscriptions/billing.py): transactional, so marketing
consent does not apply. Added only when no template has the code: an edited one is never overwritten.

- payment-retry-scheduled: a charge failed and is retried on the schedule's next day (`next_retry_date`);
- payment-update-card: a charge failed and is not retried until the card changes (a hard decline, no method);
- subscription-suspended: the last retry failed, access stops;
- subscription-expired: the subscription ended for good (suspended too long, or its term ended unrenewed).
"""

from django.db import migrations

TEMPLATES = [
    {
        "code": "payment-retry-scheduled",
        "name": "Payment failed, retry scheduled",
        "subject": "Your payment did not go through: we'll try again on {{ next_retry_date|date:'D j M' }}",
        "body": (
            "Hi {{ first_name }},\n\n"
            "We could not collect {{ amount_due }} for your {{ plan_name|default:'subscription' }}. Your access "
            "continues for now.\n\n"
            "We will try again on {{ next_retry_date|date:'l j F' }}. To pay sooner or use another card, update "
            "your payment method:\n\n"
            "{{ update_card_url }}\n\n"
            "Thanks,\n{{ agent_name }}"
        ),
        "marketing": False,
    },
    {
        "code": "payment-update-card",
        "name": "Payment failed, card update needed",
        "subject": "Your card was declined: please update it",
        "body": (
            "Hi {{ first_name }},\n\n"
            "Your bank declined the payment of {{ amount_due }} for your {{ plan_name|default:'subscription' }}, "
            "and trying the same card again would not help. We will not charge it again.\n\n"
            "Please add another card to keep your access:\n\n"
            "{{ update_card_url }}\n\n"
            "We charge the new card as soon as it is saved.\n\n"
            "Thanks,\n{{ agent_name }}"
        ),
        "marketing": False,
    },
    {
        "code": "subscription-suspended",
        "name": "Subscription suspended (payment failed)",
        "subject": "Your {{ plan_name|default:'subscription' }} is suspended",
        "body": (
            "Hi {{ first_name }},\n\n"
            "Our last attempt to collect {{ amount_due }} failed, so your {{ plan_name|default:'subscription' }} "
            "is suspended and its access has stopped.\n\n"
            "Update your payment method and we will charge it and restore your access straight away:\n\n"
            "{{ update_card_url }}\n\n"
            "Thanks,\n{{ agent_name }}"
        ),
        "marketing": False,
    },
    {
        "code": "subscription-expired",
        "name": "Subscription expired",
        "subject": "Your {{ plan_name|default:'subscription' }} has ended",
        "body": (
            "Hi {{ first_name }},\n\n"
            "Your {{ plan_name|default:'subscription' }} has expired"
            "{% if has_amount_due %} because {{ amount_due }} remained unpaid{% endif %}, and we will not charge "
            "you for it again.\n\n"
            "You are welcome back any time: just reply to this email.\n\n"
            "{{ agent_name }}"
        ),
        "marketing": False,
    },
]


def add_templates(apps, schema_editor):
    EmailTemplate = apps.get_model("support", "EmailTemplate")
    for template in TEMPLATES:
        EmailTemplate.objects.get_or_create(code=template["code"], defaults=template)


class Migration(migrations.Migration):
    dependencies = [("support", "0006_card_update_template")]

    operations = [migrations.RunPython(add_templates, migrations.RunPython.noop)]
