"""Page cursors: the one format of every keyset-paged list (the directory, the profile tabs, the audit log).

A cursor carries the keyset position a page continues from, a short list of JSON values (the row's sort key and
id; datetimes are the caller's to turn into text or integers). It is signed with the SECRET_KEY and a salt naming
the list, so a client can neither forge a position nor turn an edited link into a database error, and a cursor of
one list is refused by another. Compact and URL-safe: base64url JSON, a dot, and the base64url HMAC-SHA256
signature (`django.core.signing.Signer`, so SECRET_KEY_FALLBACKS keep old links working through a key rotation).
Nothing is compressed, so decoding costs at most MAX_TOKEN_LENGTH characters of work whatever a client sends.

    token = encode_cursor([row.created_at.isoformat(), row.id], salt="<app>.<list>")
    created_at, row_id = decode_cursor(token, salt="<app>.<list>")   # or InvalidCursor

Lists newest first on (created_at, id) use the pair below, which writes the time as integer microseconds since
the epoch: exact, where a float timestamp would drift by 1 µs and skip or repeat a row.

    token = encode_time_position(row.created_at, row.id, salt="<app>.<list>")
    created_at, row_id = decode_time_position(token, salt="<app>.<list>")   # or InvalidCursor

What a bad cursor does is each list's decision: pages restart from the first page (with a notice when the
position matters), the API answers 400 `invalid_cursor`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from django.core import signing
from django.db.models import Q

from portal.errors import DomainError

# Longest token decode_cursor reads: the longest real position (a directory page sorted by two 80-character names)
# takes under 900 characters.
MAX_TOKEN_LENGTH = 2000
_SALT_NAMESPACE = "portal.cursors:"
_SEPARATOR = "."  # not in the base64url alphabet, and left as it is in a query string (":" becomes %3A)


class InvalidCursor(DomainError):
    """A page link that was not made by this server for this list (edited, cut short, or from another list)."""

    code = "invalid_cursor"
    status = 400

    def __init__(self, message: str = "This page link is not valid (it was changed or cut short).", **kwargs):
        super().__init__(message, **kwargs)


class _CompactJSON:
    """No spaces, and text as UTF-8 rather than \\u escapes: names in other scripts keep links short."""

    def dumps(self, obj) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(self, data: bytes):
        return json.loads(data.decode())


def _signer(salt: str) -> signing.Signer:
    return signing.Signer(salt=_SALT_NAMESPACE + salt, sep=_SEPARATOR, algorithm="sha256")


def encode_cursor(values: list, *, salt: str) -> str:
    """The signed token for a keyset position: JSON values (str, int, bool, None, lists of them)."""
    return _signer(salt).sign_object(list(values), serializer=_CompactJSON)


def decode_cursor(token: str, *, salt: str) -> list:
    """The values encode_cursor was given for `salt`; InvalidCursor for anything else. The caller still checks
    their number and types: the signature proves where a cursor came from, not that it fits today's list."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidCursor()
    try:
        values = _signer(salt).unsign_object(token, serializer=_CompactJSON)
    except (signing.BadSignature, ValueError, TypeError):  # ValueError covers bad base64, UTF-8 and JSON
        raise InvalidCursor() from None
    if not isinstance(values, list):
        raise InvalidCursor()
    return values


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def encode_time_position(created_at: datetime, row_id: int, *, salt: str) -> str:
    """The cursor of a (created_at, id) keyset position: [microseconds since the epoch, id]."""
    return encode_cursor([(created_at - _EPOCH) // _MICROSECOND, row_id], salt=salt)


def decode_time_position(token: str, *, salt: str) -> tuple[datetime, int]:
    """The (created_at, id) that encode_time_position was given; InvalidCursor for anything else."""
    values = decode_cursor(token, salt=salt)
    try:
        if len(values) != 2 or not all(type(v) is int for v in values):
            raise TypeError("not (microseconds, id)")
        micros, row_id = values
        return _EPOCH + micros * _MICROSECOND, row_id
    except (TypeError, OverflowError):  # OverflowError: a signed but absurd date
        raise InvalidCursor() from None


def newest_first_rows(queryset, *, after: tuple[datetime, int] | None, size: int, salt: str) -> tuple[list, str | None]:
    """One page of a list shown newest first, keyset-paged on (created_at, id): the rows strictly older than the
    position `after`, and the cursor of the next page (None on the last). Reads size + 1 rows to know if more exist.
    """
    queryset = queryset.order_by("-created_at", "-id")
    if after is not None:
        created_at, row_id = after
        # The redundant `created_at <= …` lets Postgres bound the index range scan instead of filtering from the top.
        queryset = queryset.filter(created_at__lte=created_at).filter(Q(created_at__lt=created_at) | Q(id__lt=row_id))
    rows = list(queryset[: size + 1])
    if len(rows) <= size:
        return rows, None
    last = rows[size - 1]
    return rows[:size], encode_time_position(last.created_at, last.pk, salt=salt)
