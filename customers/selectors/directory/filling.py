"""Filling a directory page: which rows, read how, and how many there are in all.

Two ways to fill a page:
- walk: follow the sort index from the cursor and keep the rows that match. Cheap when matches are common and
  spread out. Plain column filters (status, plan, storefront, region, dates, owner) always walk, Postgres choosing the
  index; status-dependent sorts walk one status at a time (see ordering.Branches).
- gather: fetch every match through its own index (trigram, segment membership), then sort them. Cheap when
  matches are few, whatever their order.
Postgres assumes matches are spread evenly along the sort; a search term or a segment can bunch them up ("smith"
sorted by name, New customers sorted oldest first), and then its walk reads most of the table. For those
"scattered" conditions we decide ourselves: an id or email gathers; otherwise, when the planner expects few
matches, gather but stop at GATHER_LIMIT (its LIKE estimates can be far off); when there are more, walk with a
budget of rows; if the budget runs out before the page is full, the matches are rare or bunched up: gather them
all. The cost is bounded by the number of matches, never by the size of the table.
In the default sort a searched walk reads only index entries (the date indexes carry search_text), which makes
walking several times cheaper than gathering, so there the gather gives up sooner (GATHER_LIMIT_COVERED, and a
few times the planner's estimate, which search_text's finer statistics keep roughly right).

Counts: exact whenever every match was read anyway (a gather) or the planner says there are at most COUNT_CAP
(then a LIMIT-ed count over the column indexes confirms it); otherwise an estimate, labelled as one: the
planner's for column filters, and for a walked search the share of matching rows the walk saw, times the rows
the column filters keep.

The tunables below are read at call time, so tests can set them on this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from customers.models import Customer
from customers.selectors.directory.lookups import DirectoryLookups
from customers.selectors.directory.ordering import STALE_CHOICE, Branches, Sort, SortSQL
from customers.selectors.directory.paging import DEFAULT_PAGE_SIZE, Cursor
from customers.selectors.directory.search import Search
from portal.cursors import InvalidCursor

COUNT_CAP = 10_000
GATHER_LIMIT = 5_000  # up to this many estimated matches, fetching them all beats walking the sort index
GATHER_LIMIT_COVERED = 3_000  # the same, when the walk is an index-only scan (a walk's budget finds 26 rows in it)
GATHER_MIN = 500  # a gather reads at least this many matches before it gives up for a walk
GATHER_ESTIMATE_FACTOR = 4  # ... and up to this many times the planner's estimate (LIKE estimates run low)
WALK_BUDGET_PER_ROW = 300  # rows a walk may read per row it must find before it gives up and gathers

LISTED_COLUMNS = ("id", "public_id", "first_name", "last_name", "email", "status", "plan_id", "mrr", "currency",
                  "mrr_reporting", "subscription_state", "trial_ends_at", "payment_failing_since", "resumes_on",
                  "registered_at", "storefront_id", "country", "escalated_at")


@dataclass(frozen=True)
class Conditions:
    """What the rows must satisfy, split by how an index can answer it.

    `indexed`: plain column conditions (status, plan, storefront, region, dates) that a btree can combine with a
    sort. `scattered`: conditions answered by an index of their own (search, segment membership), whose matches
    may lie anywhere, or all in one place, along the sort order.
    """

    indexed: tuple[Q, ...] = ()
    scattered: tuple[Q, ...] = ()
    scattered_columns: tuple[str, ...] = ()  # the customer columns the scattered conditions read, besides id
    indexed_columns: tuple[str, ...] = ()  # the customer columns the indexed conditions read

    def adding(self, scattered: Q, columns: tuple[str, ...] = ()) -> Conditions:
        return Conditions(self.indexed, (*self.scattered, scattered), (*self.scattered_columns, *columns),
                          self.indexed_columns)

    def all(self) -> tuple[Q, ...]:
        return (*self.indexed, *self.scattered)


@dataclass(frozen=True)
class ResultCount:
    value: int
    exact: bool


@dataclass
class DirectoryPage:
    rows: list[Customer]
    count: ResultCount
    sort: Sort
    search: Search | None = None
    next_cursor: str | None = None
    previous_cursor: str | None = None
    broadened_from: Search | None = None  # set when an exact email matched nobody and the substring search ran


def customer_named_by(q: str) -> str | None:
    """The public id of the one customer a complete customer id, subscription id or email address names; None
    when `q` is not such a term or names no one or several (then the directory lists what it finds)."""
    search = Search.parse(q)
    if search is None or not search.names_one_customer:
        return None
    found = list(Customer.objects.filter(search.condition()).values_list("public_id", flat=True)[:2])
    return found[0] if len(found) == 1 else None


def directory_page(conditions: Conditions, *, lookups: DirectoryLookups, q: str = "", sort: str | None = None,
                   cursor: str | None = None, per_page: int = DEFAULT_PAGE_SIZE) -> DirectoryPage:
    """One page of the customers meeting `conditions` and matching `q`, in `sort` order, after `cursor`.

    Raises InvalidCursor for a cursor this server did not make for this sort.
    """
    order = Sort.parse(sort)
    position = Cursor.decode(cursor, order) if cursor else None
    search = Search.parse(q)
    if search is None:
        return _page(conditions, order, position, per_page, lookups)
    page = _page(conditions.adding(search.condition(), search.columns), order, position, per_page, lookups,
                 few_matches=search.matches_few)
    page.search = search
    if not page.rows and position is None and (broader := search.broadened()):
        page = _page(conditions.adding(broader.condition(), broader.columns), order, None, per_page, lookups)
        page.search, page.broadened_from = broader, search
    return page


@dataclass
class _Read:
    rows: list[Customer]
    count: ResultCount | None = None  # when the way the rows were read tells it


def _page(conditions: Conditions, order: Sort, cursor: Cursor | None, per_page: int, lookups: DirectoryLookups,
          few_matches: bool = False) -> DirectoryPage:
    backwards = cursor is not None and cursor.backwards
    walk = order.flipped() if backwards else order  # "Previous" reads the other way, then turns the rows round
    position = cursor.position if cursor else None
    limit = per_page + 1  # one extra row tells whether there is more in that direction
    read = _read(conditions, walk, position, limit, lookups.branch_values(order.column), few_matches)

    rows = read.rows[:per_page]
    more = len(read.rows) > per_page
    if backwards:
        rows.reverse()
    lookups.label(rows)
    has_next = True if backwards else more
    has_previous = more if backwards else cursor is not None

    page = DirectoryPage(rows=rows, count=ResultCount(len(rows), True), sort=order)
    if rows and has_next:
        page.next_cursor = Cursor(order.value, False, order.position_of(rows[-1])).encode()
    if rows and has_previous:
        page.previous_cursor = Cursor(order.value, True, order.position_of(rows[0])).encode()
    if read.count is not None:
        page.count = read.count
    elif cursor is not None or has_next:  # otherwise this one page holds every match: len(rows) is the count
        page.count = count_matches(conditions)
    return page


def _read(conditions: Conditions, order: Sort, position: tuple | None, limit: int, branch_values: list | None,
          few_matches: bool) -> _Read:
    """Up to `limit` rows after `position`: walk or gather, as the module docstring explains."""
    if not conditions.scattered:
        return _Read(_branch_walk(conditions, order, position, limit, branch_values) if branch_values
                     else _walk(conditions, order, position, limit))
    sql_order = SortSQL(order, branch_values)
    if few_matches:  # an id or an email
        return _gather(conditions, sql_order, position, limit)
    estimate = _planner_estimate(conditions.scattered)
    index_only = _walk_is_index_only(conditions, order)
    gather_limit = GATHER_LIMIT_COVERED if index_only else GATHER_LIMIT
    if estimate <= gather_limit:
        # A walk that reads table rows costs about what a gather costs per row, so a gather reads up to its limit.
        # An index-only walk costs a fraction of that, so there the gather stops a few times past the estimate
        # (planner estimates for LIKE run low): more matches than that are common enough to walk to.
        at_most = min(gather_limit, max(GATHER_MIN, GATHER_ESTIMATE_FACTOR * estimate)) if index_only else gather_limit
        if gathered := _gather(conditions, sql_order, position, limit, at_most=at_most):
            return gathered
    if branch_values:
        rows = _branch_walk(conditions, order, position, limit, branch_values)
        return _Read(rows, ResultCount(_planner_estimate(conditions.all()), False))
    if walked := _budgeted_walk(conditions, order, position, limit):
        return walked
    return _gather(conditions, sql_order, position, limit)  # bunched up elsewhere in this order: read them all


def _walk_is_index_only(conditions: Conditions, order: Sort) -> bool:
    """Whether a budgeted walk in this order reads only index entries: the sort's index carries search_text, and
    the filters are on columns that index (or the status one, customer_dir_status_since, or the owner one,
    customer_owner_since) holds."""
    columns = set(conditions.indexed_columns)
    return (order.column.covers_search and set(conditions.scattered_columns) <= {"search_text"}
            and (columns <= {"status", "registered_at"} or columns <= {"owner_id", "registered_at"}))


def _matching(conditions: Conditions) -> QuerySet:
    return Customer.objects.filter(*conditions.all())


def _walk(conditions: Conditions, order: Sort, position: tuple | None, limit: int) -> list[Customer]:
    rows = _matching(conditions).only(*LISTED_COLUMNS)
    if position is not None:
        rows = rows.filter(order.after(position))
    return list(rows.order_by(*order.order_by())[:limit])


def _branch_walk(conditions: Conditions, order: Sort, position: tuple | None, limit: int,
                 values: list) -> list[Customer]:
    """A page of a branched sort (see Branches): one index walk per value, each stopped after `limit` rows, in
    one UNION ALL statement; Python puts the few rows in order and keeps the first `limit`.

    The statement is assembled from the conditions compiled once, not from one ORM query per branch: with a
    dozen plans that is most of the time the request would take.
    """
    column = order.column
    if column.branches is Branches.CHOICE:
        branch_column, within = column.keyset[0], ("id",)
        values = list(reversed(values)) if order.descending else list(values)
        if position is not None:  # skip the choices before the cursor's; within its own, continue after its id
            if position[0] not in values:
                raise InvalidCursor(STALE_CHOICE)
            values = values[values.index(position[0]):]
    else:
        branch_column, within = "status", column.keyset
    quote = connection.ops.quote_name
    where_sql, where_params = _where_sql(conditions.all())
    direction, operator = (" DESC", "<") if order.descending else ("", ">")
    select = (f"SELECT {', '.join(map(quote, LISTED_COLUMNS))} FROM {quote(Customer._meta.db_table)} "
              f"WHERE {where_sql} AND ")
    branch_order = f" ORDER BY {', '.join(quote(name) + direction for name in within)} LIMIT %s"
    statements, params = [], []
    for value in values:
        clauses, branch_params = [f"{quote(branch_column)} IS NULL" if value is None
                                  else f"{quote(branch_column)} = %s"], [] if value is None else [value]
        if position is not None and (column.branches is Branches.STATUS or value == position[0]):
            bound = position[-len(within):]
            clauses.append(f"({', '.join(map(quote, within))}) {operator} ({', '.join(['%s'] * len(bound))})")
            branch_params += bound
        statements.append(f"({select}{' AND '.join(clauses)}{branch_order})")
        params += [*where_params, *branch_params, limit]
    rows = list(Customer.objects.raw(" UNION ALL ".join(statements), params))
    if column.branches is Branches.CHOICE:
        rank = {value: index for index, value in enumerate(values)}
        rows.sort(key=lambda c: (rank[getattr(c, branch_column)], -c.id if order.descending else c.id))
    else:
        rows.sort(key=order.position_of, reverse=order.descending)
    return rows[:limit]


def _budgeted_walk(conditions: Conditions, order: Sort, position: tuple | None, limit: int) -> _Read | None:
    """Walk the sort index through at most WALK_BUDGET_PER_ROW × limit rows; None if that did not fill the page.

    The window is a LIMIT-ed derived table read in index order (with the indexed filters inside it, so a
    (status, ..., id) index can serve them), holding only the sort key and the columns the scattered conditions
    test; those then test each of its rows, and only the rows of the page are read in full. Postgres cannot read
    past the window, and stops as soon as the page is full. For the default sort the window is an index-only scan
    (customer_registered includes search_text), so a search term that many customers match costs a fraction of
    a millisecond. How far the walk had to read gives the count estimate: the share of matching rows, times the
    rows the indexed filters keep.
    """
    window = _matching(Conditions(conditions.indexed, indexed_columns=conditions.indexed_columns))
    if position is not None:
        window = window.filter(order.after(position))
    keyset = [F(name).desc() if order.descending else F(name).asc() for name in order.column.keyset]
    tested = [name for name in dict.fromkeys(conditions.scattered_columns) if name not in order.column.keyset]
    window = (window.annotate(walk_position=Window(RowNumber(), order_by=keyset)).order_by(*order.order_by())
              .values(*order.column.keyset, *tested, "walk_position")[:WALK_BUDGET_PER_ROW * limit])
    window_sql, window_params = window.query.sql_with_params()
    where_sql, where_params = _where_sql(conditions.scattered)
    order_sql, order_params = SortSQL(order).order_by()
    quote = connection.ops.quote_name
    # The window takes the table's name, so the conditions' column references ("customers_customer"."id") hold.
    # The outer ORDER BY names the selected columns (an output column wins over the joined tables' columns).
    table = quote(Customer._meta.db_table)
    rows = list(Customer.objects.raw(
        f"SELECT {', '.join(f'customer.{quote(name)}' for name in LISTED_COLUMNS)}, found.walk_position "
        f"FROM (SELECT * FROM ({window_sql}) AS {table} WHERE {where_sql} ORDER BY {order_sql} LIMIT %s) AS found "
        f"JOIN {table} AS customer ON customer.id = found.id ORDER BY {order_sql}",
        [*window_params, *where_params, *order_params, limit, *order_params]))
    if len(rows) < limit:
        return None
    share = len(rows) / rows[-1].walk_position
    return _Read(rows, ResultCount(round(share * _planner_estimate(conditions.indexed)), False))


def _where_sql(conditions: tuple[Q, ...]) -> tuple[str, list]:
    """The conditions as SQL on the customers table, for statements the ORM cannot express."""
    query = Customer.objects.filter(*conditions).query
    try:
        return query.get_compiler(connection=connection).compile(query.where)
    except FullResultSet:  # no condition at all
        return "TRUE", []
    except EmptyResultSet:
        return "FALSE", []


def _gather(conditions: Conditions, order: SortSQL, position: tuple | None, limit: int,
            at_most: int | None = None) -> _Read | None:
    """Every match through its own index, then sorted (MATERIALIZED keeps Postgres from walking a sort index
    instead); the exact total comes with it. With `at_most`, None when there are more matches than that."""
    matching = _matching(conditions).values(*LISTED_COLUMNS)
    if at_most is not None:
        matching = matching[: at_most + 1]
    matches_sql, params = matching.query.sql_with_params()
    where_sql, where_params = order.after(position) if position is not None else ("TRUE", [])
    order_sql, order_params = order.order_by()
    # The LEFT JOIN returns the total even when no match lies after the cursor (then as one row of NULLs).
    rows = list(Customer.objects.raw(
        f"WITH matches AS MATERIALIZED ({matches_sql}), "
        f"page AS (SELECT * FROM matches WHERE {where_sql} ORDER BY {order_sql} LIMIT %s) "
        f"SELECT page.*, counted.total FROM (SELECT count(*) AS total FROM matches) AS counted "
        f"LEFT JOIN page ON TRUE ORDER BY {order_sql}",
        [*params, *where_params, *order_params, limit, *order_params]))
    total = rows[0].total
    if at_most is not None and total > at_most:
        return None
    return _Read([row for row in rows if row.id is not None], ResultCount(total, True))


def count_matches(conditions: Conditions) -> ResultCount:
    """Exact up to COUNT_CAP, else the planner's estimate, labelled as one (for column conditions: their
    estimates are good, and a capped count over their indexes is cheap).

    The estimate comes first because it is nearly free (EXPLAIN plans, reads no rows); only when it says
    "small" do we count, with a LIMIT-ed subquery that stops at COUNT_CAP + 1 whatever the estimate got wrong.
    """
    estimate = _planner_estimate(conditions.all())
    if estimate <= COUNT_CAP:
        exact = _matching(conditions).order_by()[: COUNT_CAP + 1].count()
        if exact <= COUNT_CAP:
            return ResultCount(exact, True)
        estimate = COUNT_CAP + 1  # the planner guessed low: all we know is "more than COUNT_CAP"
    return ResultCount(estimate, False)


def _planner_estimate(conditions: tuple[Q, ...]) -> int:
    plan = json.loads(Customer.objects.filter(*conditions).values("id").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])
