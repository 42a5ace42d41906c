"""Idempotency-Key: a write sent twice with the same key executes once.

1. Reserve: the first request with a key inserts its row (no response yet) and commits at once, so any
   duplicate from now on finds it.
2. Run: in one transaction, lock the reserved row, run the endpoint, store its response. A duplicate that
   arrives meanwhile waits on that lock (up to WAIT_SECONDS), then replays the stored response. If the endpoint
   failed with a 5xx or its process died, the transaction rolled back and the row has no response: the next
   request with the key runs it again, as if it were the first.
3. Same key, another request (method, full path or body) → 409; a key that is empty, longer than
   IdempotentRequest.KEY_MAX_LENGTH or not printable ASCII → 400.

The endpoint runs inside the transaction that stores its response, so the change and the stored response are
committed together or not at all.

Endpoints that call a payment gateway cannot run inside one transaction (the gateway rule: record the intent,
commit, call, record the outcome). They run with `commits_in_steps=True`: instead of the row lock, a session-level
advisory lock on the reservation keeps duplicates waiting while the endpoint commits its own steps, and the
answer is stored after it. If the process dies in between, the key has no stored answer and a retry runs the
endpoint again: such endpoints pass the key on to their service (`request_key`), which finds what the first run
created and answers with it, so the action still happens once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from portal.access_log import disclose_customer_ids, disclosed_customer_ids
from portal.errors import ApiError
from portal.models import IdempotentRequest

HEADER = "Idempotency-Key"
WAIT_SECONDS = 15  # how long a duplicate waits for the first request to finish before it gets a 409
_ADVISORY_NAMESPACE = 7301  # first key of pg_advisory_lock(int, int): reservations of endpoints run in steps
_VALID_KEY = re.compile(rf"^[\x21-\x7e]{{1,{IdempotentRequest.KEY_MAX_LENGTH}}}$")


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.get_full_path().encode(), request.body or b""):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _checked_key(raw: str) -> str:
    if not _VALID_KEY.match(raw):
        raise ApiError(400, "invalid_idempotency_key",
                       f"The {HEADER} header must be 1 to {IdempotentRequest.KEY_MAX_LENGTH} printable ASCII "
                       f"characters without spaces (a UUID is a good choice).")
    return raw


def _replay(record: IdempotentRequest) -> JsonResponse:
    disclose_customer_ids(record.customer_ids)  # the replayed body shows these customers again: access-logged
    response = JsonResponse(record.response_body, status=record.status_code, safe=False)
    response["Idempotent-Replayed"] = "true"
    return response


def request_key(request) -> str | None:
    """The request's Idempotency-Key as a service's `request_key` (unique per user), or None without one."""
    raw = request.headers.get(HEADER)
    return f"api:{request.user.pk}:{_checked_key(raw)}" if raw else None


def run_once(request, run: Callable[[], HttpResponse], *, commits_in_steps: bool = False) -> HttpResponse:
    """Answer a write request: run it, or replay the answer it got the first time it was sent with this key.

    Raises ApiError for a bad key, a key reused for another request, or one still running after WAIT_SECONDS.
    """
    key = _checked_key(request.headers[HEADER])
    fingerprint = _fingerprint(request)
    IdempotentRequest.objects.bulk_create(  # 1. reserve (committed at once: the caller holds no transaction)
        [IdempotentRequest(user=request.user, key=key, fingerprint=fingerprint, method=request.method,
                           path=request.path[:255])],
        ignore_conflicts=True)
    if commits_in_steps:
        return _run_in_steps(request, run, key, fingerprint)
    try:
        with transaction.atomic():  # 2. run under the reservation's lock
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{WAIT_SECONDS}s'")
            record = IdempotentRequest.objects.select_for_update(no_key=True).get(user=request.user, key=key)
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = DEFAULT")
            if record.fingerprint != fingerprint:
                raise ApiError(409, "idempotency_conflict",
                               f"This {HEADER} was already used with a different request.")
            if record.status_code is not None:
                return _replay(record)
            response = run()
            if response.status_code >= 500:
                transaction.set_rollback(True)  # not stored: the client may retry with the same key
                return response
            _store(record, response)
            return response
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise ApiError(409, "idempotency_in_progress",
                       f"A request with this {HEADER} is still being processed. Retry in a few seconds.")


def _store(record: IdempotentRequest, response: HttpResponse) -> None:
    record.status_code = response.status_code
    record.response_body = json.loads(response.content or b"null")
    record.customer_ids = disclosed_customer_ids()
    record.save(update_fields=["status_code", "response_body", "customer_ids"])


def _run_in_steps(request, run: Callable[[], HttpResponse], key: str, fingerprint: str) -> HttpResponse:
    record_id = IdempotentRequest.objects.values_list("pk", flat=True).get(user=request.user, key=key)
    with connection.cursor() as cursor:  # waits like the row lock would, then gives up with a 409
        cursor.execute(f"SET lock_timeout = '{int(WAIT_SECONDS)}s'")
        try:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_ADVISORY_NAMESPACE, record_id])
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != "55P03":
                raise
            raise ApiError(409, "idempotency_in_progress",
                           f"A request with this {HEADER} is still being processed. Retry in a few seconds.") from None
        finally:
            cursor.execute("SET lock_timeout = DEFAULT")
    try:
        record = IdempotentRequest.objects.get(pk=record_id)
        if record.fingerprint != fingerprint:
            raise ApiError(409, "idempotency_conflict", f"This {HEADER} was already used with a different request.")
        if record.status_code is not None:
            return _replay(record)
        response = run()
        if response.status_code < 500:
            _store(record, response)
        return response
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_ADVISORY_NAMESPACE, record_id])


def purge_expired() -> int:
    """Forget keys older than IDEMPOTENCY_KEY_TTL_HOURS (daily beat task); returns how many were deleted."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted
