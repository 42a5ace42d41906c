"""`manage.py delete_demo_users`: remove the demo users that seed_demo creates.

Production refuses to start while they exist (portal/checks.py). Their notes, tickets and timeline entries stay,
without an author.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Delete the demo users (agent, manager, admin) created by seed_demo."

    def handle(self, *args, **options):
        users = get_user_model().objects.filter(username__in=settings.PORTAL["DEMO_USERNAMES"])
        names = sorted(users.values_list("username", flat=True))
        if not names:
            self.stdout.write("No demo users to delete.")
            return
        users.delete()
        self.stdout.write(self.style.SUCCESS(f"Deleted the demo users: {', '.join(names)}."))
