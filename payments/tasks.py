"""Payment jobs: thin wrappers over payments/gateway_calls.py."""

from celery import shared_task

from payments import gateway_calls


@shared_task(name="payments.reconcile", ignore_result=True)
def reconcile() -> dict:
    """Beat, every minute: submit charge and refund intents whose process died before the gateway call, and ask the
    gateway what became of pending and unknown ones. Safe to run twice or late: each answer is recorded once."""
    return gateway_calls.reconcile_unsettled()
