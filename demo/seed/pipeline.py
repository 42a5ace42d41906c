"""The seeding run: catalog and demo users through the ORM, then stories, loads and clean-up in SQL.

Both sizes take the loaded tables' secondary indexes, unique constraints and foreign keys off first and rebuild
them at the end (see ddl.py): building an index once is cheaper than maintaining it row by row, and checking a
foreign key once is far cheaper than queueing a deferred check per row. Small runs (fewer than BULK_THRESHOLD
customers, e.g. `make run` and the tests) do all of it in one transaction on Django's connection: a few seconds,
and all or nothing. Bulk runs use BULK_SESSIONS extra sessions in autocommit so that loads and index builds run in
parallel; an interrupted bulk run is repaired by the next one (`repair_interrupted_load`).

Bulk loads write a big table in BULK_CHUNKS id ranges and VACUUM it after each: the vacuum only visits the pages
just written, sets their hint bits and visibility-map bits while they are recent (checksums make a hint-bit change
to a page last written before a checkpoint cost a full-page image in the WAL), so the index builds that follow do
not rewrite the whole table, the foreign-key checks can use index-only scans, and autovacuum finds nothing to do.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Callable

from django.db import connection, transaction

from demo.seed import ddl, history, loads, lookups, reference, stories
from demo.seed.randomness import SCHEMA, helper_functions
from demo.seed.runner import Runner, Task, configure_session

BULK_THRESHOLD = 50_000
BULK_SESSIONS = 2
BULK_CHUNKS = 8

LOADED_TABLES = sorted({load.table for load in loads.LOADS})


def run(*, customers: int, seed: int, anchor: datetime, write: Callable[[str], None]) -> dict[str, int]:
    """Seed `customers` customers; return rows written per load."""
    with transaction.atomic():
        storefront_ids, plan_ids, tag_ids = reference.create_catalog()
        users = reference.ensure_demo_users()
    context = {"seed": seed, "anchor": anchor, "customers": customers, "users": users,
               "ids": (storefront_ids, plan_ids, tag_ids)}
    if customers < BULK_THRESHOLD:
        with transaction.atomic(), connection.cursor() as cursor:
            configure_session(cursor, local=True)
            return _load(Runner([cursor], write), cursor, context, atomic=contextlib.nullcontext, bulk=False)
    sessions = [_open_session() for _ in range(BULK_SESSIONS)]
    try:
        cursors = [session.cursor() for session in sessions]
        return _load(Runner(cursors, write), cursors[0], context, atomic=sessions[0].transaction, bulk=True)
    finally:
        for session in sessions:
            session.close()


def repair_interrupted_load(write: Callable[[str], None]) -> bool:
    """Replay the index and constraint definitions an interrupted bulk load left in seed_demo.restore, if any."""
    with connection.cursor() as cursor:
        if not ddl.restore_table_exists(cursor):
            return False
        write("A previous bulk load was interrupted: restoring its indexes and constraints first.")
        Runner([cursor], write).run(ddl.restore_tasks(cursor, {}))
        cursor.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    return True


def _open_session():
    session = connection.get_new_connection(connection.get_connection_params())
    session.autocommit = True
    configure_session(session.cursor(), local=False)
    return session


def _load(runner: Runner, cursor, context: dict, atomic: Callable, bulk: bool) -> dict[str, int]:
    """Stories and loads between taking the indexes off and putting them back; `atomic` wraps the take-off."""
    _create_staging_schema(cursor, context)
    with atomic():
        ddl.create_restore_table(cursor)
        ddl.take_off(cursor, LOADED_TABLES)
    # Each table's indexes are rebuilt as soon as its load is done, while other loads go on.
    restore = ddl.restore_tasks(cursor, {load.table: load.name for load in loads.LOADS})
    runner.run(_story_tasks(context) + _load_tasks(context["customers"], bulk) + [_history_task(context)] + restore
               + _analyze_tasks(cursor, restore))
    _reset_identities(cursor)
    cursor.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    return {**{load.name: runner.rows.get(load.name, 0) for load in loads.LOADS},
            HISTORY: runner.rows.get(HISTORY) or 0}


def _create_staging_schema(cursor, context: dict) -> None:
    cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    cursor.execute(f"CREATE SCHEMA {SCHEMA}")
    users = context["users"]
    for statement in helper_functions(context["seed"], context["anchor"], users["agent"], users["manager"]):
        cursor.execute(statement)
    lookups.create_lookup_tables(cursor, *context["ids"])


def _story_tasks(context: dict) -> list[Task]:
    def customers(cursor) -> int:
        cursor.execute(stories.CUSTOMERS, {"customers": context["customers"]})
        count = cursor.rowcount
        cursor.execute(f"ANALYZE {SCHEMA}.cust")
        return count

    def subscriptions(cursor) -> int:
        cursor.execute(stories.SUBSCRIPTIONS)
        count = cursor.rowcount
        cursor.execute(f"ANALYZE {SCHEMA}.sub")
        cursor.execute(stories.TOTALS)
        return count

    return [Task(loads.CUSTOMER_STORIES, customers),
            Task(loads.SUBSCRIPTION_STORIES, subscriptions, needs=frozenset({loads.CUSTOMER_STORIES}))]


HISTORY = "audit history"


def _history_task(context: dict) -> Task:
    """Audit and access-log history (history.py), from the rows of the loads it names."""
    return Task(HISTORY, lambda cursor: history.write_history(cursor, context["customers"]),
                frozenset({"notes", "tags", "refunds", "payments", "customers"}))


def _load_tasks(customers: int, bulk: bool) -> list[Task]:
    return [Task(load.name, _fill(load, customers, bulk), frozenset(load.needs)) for load in loads.LOADS]


def _fill(load: loads.Load, customers: int, bulk: bool):
    """Run the load's statements (over id ranges when chunked), then ANALYZE its table so that later statements and
    the foreign-key checks plan with real statistics. In bulk mode each statement is followed by a VACUUM."""
    def execute(cursor) -> int:
        total = 0
        for params in _ranges(cursor, load.chunk_by, customers, BULK_CHUNKS if bulk else 1):
            for statement in load.statements:
                cursor.execute(statement, params)
                total += cursor.rowcount
                if bulk:
                    cursor.execute(f"VACUUM (INDEX_CLEANUP off) {load.table}")
        cursor.execute(f"ANALYZE {load.table}")
        return total
    return execute


def _ranges(cursor, chunk_by: str | None, customers: int, chunks: int) -> list[dict | None]:
    """Statement parameters: `chunks` consecutive id ranges over the customers or subscriptions (both numbered from
    1), or no parameters for a load that is not chunked."""
    if chunk_by is None:
        return [None]
    if chunk_by == "customer":
        last = customers
    else:
        cursor.execute(f"SELECT subscriptions FROM {SCHEMA}.totals")
        last = cursor.fetchone()[0]
    size = max(-(-last // chunks), 1)
    return [{"lo": lo, "hi": lo + size - 1} for lo in range(1, last + 1, size)]


def _analyze_tasks(cursor, restore: list[Task]) -> list[Task]:
    """Each load analyzed its table; expression indexes have statistics of their own, gathered once they exist."""
    cursor.execute("SELECT DISTINCT indrelid::regclass::text FROM pg_index WHERE indexprs IS NOT NULL "
                   "AND indrelid::regclass::text = ANY(%s)", [LOADED_TABLES])
    tasks = []
    for (table,) in cursor.fetchall():
        indexes = frozenset(t.name for t in restore if t.name.startswith(f"{table}: index "))
        tasks.append(Task(f"analyze {table}", _analyze(table), indexes))
    return tasks


def _analyze(table: str):
    def execute(cursor) -> None:
        cursor.execute(f"ANALYZE {table}")
    return execute


def _reset_identities(cursor) -> None:
    """Point each identity column past the ids the load wrote, so the application's inserts do not collide."""
    cursor.execute("""
        SELECT t, pg_get_serial_sequence(t, 'id') FROM unnest(%s::text[]) AS t
        WHERE EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = t::regclass AND attname = 'id')
    """, [LOADED_TABLES])
    for table, sequence in cursor.fetchall():
        cursor.execute(f"SELECT setval(%s, coalesce(max(id), 0) + 1, false) FROM {table}", [sequence])
