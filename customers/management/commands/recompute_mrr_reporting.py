"""Convert every customer's MRR to the reporting currency again, after EXCHANGE_RATES or REPORTING_CURRENCY
changed (the directory sorts by it). Set-based, in chunks of ids; rows already right are not written."""

from django.core.management.base import BaseCommand, CommandError

from customers.services import MRR_REPORTING_CHUNK, customers_mrr_reporting_recompute
from portal.errors import DomainError
from portal.money import reporting_rates_note


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=MRR_REPORTING_CHUNK,
                            help=f"customer ids per UPDATE (default {MRR_REPORTING_CHUNK:,})")

    def handle(self, *args, chunk_size: int, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        try:
            changed = customers_mrr_reporting_recompute(chunk_size=chunk_size)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{reporting_rates_note()} {changed:,} customer{'s' if changed != 1 else ''} changed.")
