from celery import shared_task
from django.db import connection


@shared_task(name="portal.ping")
def ping(payload: str) -> dict:
    """Round-trip check for the broker, the worker and its database connection (used by tests and operators)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')")
        (version,) = cursor.fetchone()
    return {"echo": payload, "postgres": int(version)}
