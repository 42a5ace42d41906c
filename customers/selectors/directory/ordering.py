"""Directory ordering: the sorts a page can have, each a keyset of columns unique together and ending in id.

Each sort is backed by an index of that shape (customers/migrations/0003_directory_indexes.py), so page 20,000
costs what page 1 costs. `Sort` speaks the ORM (order_by, "rows after this position"); `SortSQL` says the same
order in raw SQL for the statements the page-filling code writes by hand (filling.py). Plan and storefront sort by
the choice's display order and MRR by status first: those read one index walk per value (`Branches`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from django.db import connection
from django.db.models import F, Field, Func, Value
from django.db.models.lookups import GreaterThan, LessThan

from customers.models import Customer
from portal.cursors import InvalidCursor

STALE_CHOICE = "This page link refers to a plan or storefront that no longer exists."


class Row(Func):
    """A row value, (a, b, id). Compared as a whole, it lets Postgres start an index range right after it."""

    template = "(%(expressions)s)"
    arg_joiner = ", "
    output_field = Field()  # mixed column types: only ever compared, never read back


class Branches(Enum):
    """Sorts read as one index walk per value of a small column, glued with UNION ALL into one statement."""

    CHOICE = "choice"  # plan, storefront: sorted by the choice's display order (plan rank, storefront name), then
    #                    id; one walk on (column, id) per choice, in that order.
    STATUS = "status"  # MRR: one walk on (status, mrr_reporting, id) per status, merged. MRR follows from the status
    #                    (only active customers pay), so Postgres, which assumes no such link, would walk a plain
    #                    (mrr_reporting, id) index past every non-paying customer to find "Active, lowest MRR first".


@dataclass(frozen=True)
class SortColumn:
    key: str
    label: str
    keyset: tuple[str, ...]  # columns, unique together (the last is always "id")
    branches: Branches | None = None
    covers_search: bool = False  # its index includes search_text: a searched walk reads no table rows


SORT_COLUMNS = {
    column.key: column
    for column in (
        SortColumn("name", "Name", ("last_name", "first_name", "id")),
        SortColumn("email", "Email", ("email", "id")),
        SortColumn("status", "Status", ("status", "id")),
        SortColumn("plan", "Plan", ("plan_id", "id"), Branches.CHOICE),
        SortColumn("mrr", "MRR", ("mrr_reporting", "id"), Branches.STATUS),
        SortColumn("since", "Since", ("registered_at", "id"), covers_search=True),
        SortColumn("storefront", "Storefront", ("storefront_id", "id"), Branches.CHOICE),
    )
}
DEFAULT_SORT = "-since"
SORT_CHOICES = [(prefix + key, f"{column.label} {direction}")
                for key, column in SORT_COLUMNS.items()
                for prefix, direction in (("", "ascending"), ("-", "descending"))]


@dataclass(frozen=True)
class Sort:
    column: SortColumn
    descending: bool

    @classmethod
    def parse(cls, value: str | None) -> Sort:
        value = value or DEFAULT_SORT
        return cls(SORT_COLUMNS[value.removeprefix("-")], value.startswith("-"))

    @property
    def value(self) -> str:
        return ("-" if self.descending else "") + self.column.key

    def flipped(self) -> Sort:
        return Sort(self.column, not self.descending)

    def order_by(self) -> list[str]:
        return [("-" if self.descending else "") + name for name in self.column.keyset]

    def position_of(self, customer: Customer) -> tuple:
        return tuple(getattr(customer, name) for name in self.column.keyset)

    def after(self, position: tuple) -> GreaterThan | LessThan:
        """Rows strictly after `position` in this order (for a CHOICE sort, within one choice: see _branch_walk)."""
        compare = LessThan if self.descending else GreaterThan
        return compare(Row(*[F(name) for name in self.column.keyset]), Row(*[Value(v) for v in position]))


class SortSQL:
    """The same order in raw SQL, over the columns of a derived table (the gather and the budgeted walk)."""

    def __init__(self, order: Sort, choices: list | None = None):
        self.order = order
        quote = connection.ops.quote_name
        first, *rest = order.column.keyset
        self.params: list = []
        self.rank = None
        self.keys = [quote(name) for name in order.column.keyset]
        if order.column.branches is Branches.CHOICE:  # the choice's position in display order, no plan last
            whens = []
            for position, value in enumerate(choices):
                if value is None:
                    whens.append(f"WHEN {quote(first)} IS NULL THEN %s")
                    self.params.append(position)
                else:
                    whens.append(f"WHEN {quote(first)} = %s THEN %s")
                    self.params.extend([value, position])
            self.rank = {value: position for position, value in enumerate(choices)}
            self.keys = [f"(CASE {' '.join(whens)} END)", *map(quote, rest)]

    def order_by(self) -> tuple[str, list]:
        direction = " DESC" if self.order.descending else ""
        return ", ".join(key + direction for key in self.keys), list(self.params)

    def after(self, position: tuple) -> tuple[str, list]:
        if self.rank is not None:
            if position[0] not in self.rank:
                raise InvalidCursor(STALE_CHOICE)
            position = (self.rank[position[0]], *position[1:])
        operator = "<" if self.order.descending else ">"
        placeholders = ", ".join(["%s"] * len(position))
        return f"({', '.join(self.keys)}) {operator} ({placeholders})", [*self.params, *position]
