"""`manage.py seed_demo --customers N [--seed S] [--today YYYY-MM-DD] [--reset | --if-empty]`

Fills the database with deterministic, realistic demo data: the same N, seed and --today give the same rows.
How the data is made and which shortcuts it takes: demo/seed/ (stories.py for the customer model, loads.py for
the bounded usage and timeline history, pipeline.py for the bulk-load mechanics).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.utils import timezone

from customers.models import Customer
from demo.seed import ddl, pipeline
from portal.db_roles import as_owner


class Command(BaseCommand):
    help = "Load deterministic demo customers, subscriptions, payments, tickets... and the demo users."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, required=True, help="How many customers to create.")
        parser.add_argument("--seed", type=int, default=1, help="Seed of the pseudo-random choices (default 1).")
        parser.add_argument("--today", type=date.fromisoformat, default=None,
                            help="Date the data is 'as of' (YYYY-MM-DD, default: today in UTC). Every date is "
                                 "relative to it, so a fixed --today gives identical data on any day.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--reset", action="store_true",
                          help="Empty the customer data first (customers, subscriptions, payments, support, "
                               "segment memberships, consents, activity, usage, metrics, audit and access logs). "
                               "Users and groups are kept.")
        mode.add_argument("--if-empty", action="store_true",
                          help="Do nothing when customers already exist.")

    def handle(self, *args, **options):
        # The bulk loader takes indexes and foreign keys off and puts them back (and --reset truncates): schema
        # work, done as the owner role (portal/db_roles.py), like migrate.
        with as_owner():
            self._seed(**options)

    def _seed(self, *, customers, seed, today, reset, if_empty, **options):
        if customers < 0:
            raise CommandError("--customers must be zero or more.")
        started = time.monotonic()
        if reset:
            with connection.cursor() as cursor:
                ddl.truncate_domain_tables(cursor)
            self.stdout.write("Emptied the customer data tables (--reset).")
        try:
            pipeline.repair_interrupted_load(self.stdout.write)
        except DatabaseError as error:
            raise CommandError(f"A previous bulk load was interrupted and left incomplete data ({error}). "
                               f"Run seed_demo with --reset to start over.") from error
        existing = Customer.objects.count()
        if existing and if_empty:
            self.stdout.write(f"The database already has {existing:,} customers; not seeding (--if-empty).")
            return
        if existing:
            raise CommandError(
                f"The database already has {existing:,} customers. Run with --reset to replace all customer data "
                f"with demo data, or with --if-empty to leave it as it is.")
        anchor = datetime.combine(today or timezone.now().date(), datetime.min.time(), tzinfo=UTC)
        self.stdout.write(f"Seeding {customers:,} customers (seed {seed}, as of {anchor:%Y-%m-%d})...")
        rows = pipeline.run(customers=customers, seed=seed, anchor=anchor, write=self.stdout.write)
        self.stdout.write("Rows written: " + ", ".join(f"{name} {count:,}" for name, count in rows.items()))
        users = ", ".join(settings.PORTAL["DEMO_USERNAMES"])
        self.stdout.write(self.style.SUCCESS(
            f"Seeded {customers:,} customers in {time.monotonic() - started:.1f} s. "
            f"Demo users: {users} (password {settings.PORTAL['DEMO_PASSWORD']})."))
