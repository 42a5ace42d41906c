"""The email that carries a card-update link (payments/card_links.py sends it; transactional, so marketing consent
does not apply). Added only when no template has its code: an edited one is never overwritten."""

from django.db import migrations

TEMPLATE = {
    "code": "card_update",
    "name": "Card update link",
    "subject": "Update your card, {{ first_name }}",
    "body": (
        "Hi {{ first_name }},\n\n"
        "{% if has_amount_due %}Your account has {{ amount_due }} due. {% endif %}"
        "Use this secure link to add a new card to your account. No password needed:\n\n"
        "{{ card_link_url }}\n\n"
        "The link works once and expires on {{ card_link_expires_at|date:'j F Y \\a\\t H:i' }} UTC. "
        "{% if has_amount_due %}Once your card is saved, we charge the amount due to it.{% endif %}\n\n"
        "If you did not ask for this, you can ignore this email: nothing changes until a card is added.\n\n"
        "Thanks,\n{{ agent_name }}"
    ),
    "marketing": False,
}


def add_template(apps, schema_editor):
    EmailTemplate = apps.get_model("support", "EmailTemplate")
    EmailTemplate.objects.get_or_create(code=TEMPLATE["code"], defaults=TEMPLATE)


class Migration(migrations.Migration):
    dependencies = [("support", "0005_escalations")]

    operations = [migrations.RunPython(add_template, migrations.RunPython.noop)]
