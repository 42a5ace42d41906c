"""Email delivery jobs: thin wrappers over support/services.py. Tasks carry message ids, never addresses."""

from celery import shared_task

from support import services


@shared_task(bind=True, name="support.email_deliver", acks_late=True, ignore_result=True)
def email_deliver(self, message_id: int) -> str:
    """Deliver one queued email at most once. A transient error leaves it queued with the reason and schedules
    this task again (backoff: EMAIL_RETRY_SECONDS doubling, up to EMAIL_MAX_ATTEMPTS attempts); running it twice,
    or on two workers at once, sends nothing twice."""
    delivery = services.email_message_deliver(message_id)
    if delivery.retry_in is not None:
        raise self.retry(countdown=delivery.retry_in, max_retries=None)
    return delivery.status


@shared_task(name="support.email_messages_recover", ignore_result=True)
def email_messages_recover() -> dict:
    """Beat, every 5 minutes: re-send lost tasks of queued emails; give up on emails stuck while sending."""
    return services.email_messages_recover()
