"""`migrate`, connected as the owner role: the only role that may change the schema (portal/db_roles.py)."""

from django.core.management.commands.migrate import Command as DjangoMigrate

from portal.db_roles import as_owner


class Command(DjangoMigrate):
    def handle(self, *args, **options):
        with as_owner(options["database"]):
            return super().handle(*args, **options)
