"""`manage.py delete_demo_users`: remove the demo users that seed_demo creates.

Production refuses to start while they exist (portal/checks.py). This command runs every system check except that
one, so it works in production, where it is needed. Their notes, tickets and timeline entries stay, without an
author.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.management.base import BaseCommand

from portal.checks import DEMO_USERS_TAG


class Command(BaseCommand):
    help = "Delete the demo users (agent, manager, admin) created by seed_demo."

    @property
    def requires_system_checks(self):
        return [tag for tag in checks.registry.registry.tags_available() if tag != DEMO_USERS_TAG]

    def handle(self, *args, **options):
        users = get_user_model().objects.filter(username__in=settings.PORTAL["DEMO_USERNAMES"])
        names = sorted(users.values_list("username", flat=True))
        if not names:
            self.stdout.write("No demo users to delete.")
            return
        users.delete()
        self.stdout.write(self.style.SUCCESS(f"Deleted the demo users: {', '.join(names)}."))
