"""Customer background jobs: thin, idempotent wrappers over customers/services.py."""

from celery import shared_task

from customers import services


@shared_task(name="customers.mrr_reporting_recompute")
def mrr_reporting_recompute() -> int:
    """MRR in the reporting currency again for everyone (daily by beat, and after EXCHANGE_RATES changes).
    One UPDATE per chunk of ids; rows already right are not written, so a rerun changes nothing."""
    return services.customers_mrr_reporting_recompute()
