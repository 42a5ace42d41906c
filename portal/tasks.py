import structlog
from celery import shared_task
from django.db import connection

from portal import approvals, idempotency
from portal.audit_chain import chain_head
from portal.context import action_source

logger = structlog.get_logger(__name__)


@shared_task(name="portal.ping")
def ping(payload: str) -> dict:
    """Round-trip check for the broker, the worker and its database connection (used by tests and operators)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num'), current_user")
        version, database_user = cursor.fetchone()
    return {"echo": payload, "postgres": int(version), "database_user": database_user}


@shared_task(name="portal.audit_chain_head")
def audit_chain_head() -> dict:
    """Log the audit chain's newest row and hash (daily, by beat). Kept with the logs, off the database, it lets
    `manage.py audit_verify --expect ID:HASH` prove later that nothing up to that row was rewritten.
    Idempotent: running it twice logs the same head twice."""
    head_id, head_hash = chain_head(connection)
    logger.info("audit.chain_head", audit_id=head_id, audit_hash=head_hash, expect=f"{head_id}:{head_hash}")
    return {"id": head_id, "hash": head_hash}


@shared_task(name="portal.idempotency_purge")
def idempotency_purge() -> int:
    """Forget Idempotency-Keys past their retention (daily, by beat). Idempotent; safe to run late."""
    return idempotency.purge_expired()


@shared_task(name="portal.approvals_expire", ignore_result=True)
def approvals_expire() -> int:
    """End approval requests past their expiry (every 5 minutes, by beat): expired, released, recorded.
    Idempotent; safe to run late or twice at once."""
    with action_source("scheduled"):
        return approvals.approvals_expire()
