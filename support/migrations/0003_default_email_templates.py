"""The email templates every portal starts with, so a fresh database can email customers before anyone seeds it.

Admins edit them in Django's admin afterwards; this migration only adds the ones whose code does not exist yet,
and never overwrites an edited template. Variables: support/email_context.py VARIABLES.
"""

from django.db import migrations

TEMPLATES = [
    {
        "code": "welcome",
        "name": "Welcome",
        "subject": "Welcome aboard, {{ first_name }}",
        "body": (
            "Hi {{ first_name }},\n\n"
            "Thanks for joining us{% if plan_name %} on the {{ plan_name }} plan{% endif %}. Your account is ready.\n\n"
            "If anything is unclear, just reply to this email: a real person reads every reply.\n\n"
            "{{ agent_name }}"
        ),
        "marketing": False,
    },
    {
        "code": "card-update-reminder",
        "name": "Card update reminder",
        "subject": "Please update your card, {{ first_name }}",
        "body": (
            "Hi {{ first_name }},\n\n"
            "The card we have on file for your {{ plan_name|default:'subscription' }} is about to expire or was "
            "declined. To keep your access without interruption, update it here:\n\n"
            "{{ update_card_url }}\n\n"
            "{% if renewal_date %}Your next renewal is on {{ renewal_date|date:'j F Y' }}.\n\n{% endif %}"
            "Thanks,\n{{ agent_name }}"
        ),
        "marketing": False,
    },
    {
        "code": "payment-failed",
        "name": "Payment failed",
        "subject": "Your payment did not go through",
        "body": (
            "Hi {{ first_name }},\n\n"
            "We could not collect your latest payment. The amount due is {{ amount_due }}.\n\n"
            "We will try again over the next few days. To settle it now, update your card:\n\n"
            "{{ update_card_url }}\n\n"
            "Thanks,\n{{ agent_name }}"
        ),
        "marketing": False,
    },
    {
        "code": "ticket-reply",
        "name": "Ticket reply",
        "subject": "Re: {{ ticket_subject }}",
        "body": (
            "Hi {{ first_name }},\n\n"
            "{{ reply_body }}\n\n"
            "{{ agent_name }}\n\n"
            "Reply to this email to continue the conversation."
        ),
        "marketing": False,
    },
    {
        "code": "renewal-notice",
        "name": "Renewal notice",
        "subject": "Your {{ plan_name|default:'subscription' }} renews soon",
        "body": (
            "Hi {{ first_name }},\n\n"
            "A friendly reminder: your {{ plan_name|default:'subscription' }} renews"
            "{% if renewal_date %} on {{ renewal_date|date:'j F Y' }}{% else %} soon{% endif %}. "
            "Nothing to do if you want to keep it; to change or cancel, reply to this email.\n\n"
            "{{ agent_name }}"
        ),
        "marketing": False,
    },
    {
        "code": "newsletter",
        "name": "Monthly newsletter",
        "subject": "What's new this month",
        "body": (
            "Hi {{ first_name }},\n\n"
            "Here is what we shipped this month, and a few tips to get more out of your plan.\n\n"
            "You get this because you asked for product news by email. To stop, reply with \"unsubscribe\".\n\n"
            "{{ agent_name }}"
        ),
        "marketing": True,
    },
]


def add_templates(apps, schema_editor):
    EmailTemplate = apps.get_model("support", "EmailTemplate")
    for template in TEMPLATES:
        EmailTemplate.objects.get_or_create(code=template["code"], defaults=template)


class Migration(migrations.Migration):
    dependencies = [("support", "0002_email_templates_and_messages")]

    operations = [migrations.RunPython(add_templates, migrations.RunPython.noop)]
