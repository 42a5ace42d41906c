"""Directory paging: page sizes and the keyset cursor, the position of the row a page continues from.

A page is the rows after the last row shown (or, for "Previous", before the first), in the sort's (key, id)
order; no OFFSET. The cursor is a kernel cursor (portal/cursors.py): signed, so a client can neither forge one nor
corrupt one into a database error. It holds the sort it was made for, the direction and the keyset values
(datetimes as ISO text); a cursor of another sort, or with values that do not fit the sort's columns, is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from customers.selectors.directory.ordering import Sort
from portal.cursors import InvalidCursor, decode_cursor, encode_cursor

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 25

CURSOR_SALT = "customers.directory"
BAD_CURSOR = "This page link is not valid (it was changed, cut short, or made for another sort order)."


@dataclass(frozen=True)
class Cursor:
    sort: str
    backwards: bool  # True: the rows *before* this position (the "Previous" link)
    position: tuple

    def encode(self) -> str:
        values = [v.isoformat() if isinstance(v, datetime) else v for v in self.position]
        return encode_cursor([self.sort, int(self.backwards), values], salt=CURSOR_SALT)

    @classmethod
    def decode(cls, token: str, sort: Sort) -> Cursor:
        """Raises InvalidCursor for a cursor this server did not make for this sort."""
        try:
            sort_value, backwards, values = decode_cursor(token, salt=CURSOR_SALT)
            keyset = sort.column.keyset
            if sort_value != sort.value or not isinstance(values, list) or len(values) != len(keyset):
                raise ValueError("a cursor of another sort")
            position = tuple(_cursor_value(name, value) for name, value in zip(keyset, values))
        except (InvalidCursor, ValueError, TypeError):
            raise InvalidCursor(BAD_CURSOR) from None
        return cls(sort_value, bool(backwards), position)


def _cursor_value(column: str, value):
    if column == "registered_at":
        return datetime.fromisoformat(value)
    if column == "plan_id" and value is None:
        return None
    if column in ("id", "mrr_reporting", "storefront_id", "plan_id"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(column)
        return value
    if not isinstance(value, str):
        raise TypeError(column)
    return value
