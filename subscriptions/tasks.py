"""Subscription jobs: thin wrappers over subscriptions/billing.py. They take no arguments (no personal data in the
broker), and the work is safe to run twice or late: each run does what the rows say is due."""

from celery import shared_task

from subscriptions import billing


@shared_task(name="subscriptions.billing_tick", ignore_result=True)
def billing_tick() -> dict:
    """Beat, every five minutes: every billing job in order (billing.JOBS), with one clock."""
    return billing.run_all()
