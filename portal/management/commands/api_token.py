from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal.errors import DomainError
from portal.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print its secret (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line")
        parser.add_argument("--days", type=int, default=None,
                            help="the token expires after this many days (default: it never expires)")

    def handle(self, *args, username, name, days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user called {username!r}.")
        try:
            token, secret = api_token_create(user=user, name=name, actor=None, expires_in_days=days)
        except DomainError as exc:
            raise CommandError(exc.message)
        expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M %Z}" if token.expires_at else "never expires"
        self.stderr.write(f"Token “{token.name}” for {username} ({expiry}); "
                          "send it as 'Authorization: Bearer <token>':")
        self.stdout.write(secret)
