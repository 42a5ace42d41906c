"""Emptying the domain tables, and taking secondary indexes, unique constraints and foreign keys off the loaded tables
for a bulk load, then putting them back exactly as the migrations made them.

Partial indexes stay: they only index the matching rows during the load, and the text pg_get_indexdef gives for
a predicate such as `status IN (...)` does not always parse back to the same text. Everything else is read from
pg_index / pg_constraint (pg_get_indexdef, pg_get_constraintdef) and saved in
`seed_demo.restore` in the same transaction that drops them, so an interrupted load can be repaired: the next
seed_demo run replays whatever is still listed there before doing anything else. Unique constraints come back as
`CREATE UNIQUE INDEX` (which can run next to other index builds) followed by `ADD CONSTRAINT ... USING INDEX`.
Autovacuum is switched off on the loaded tables for the duration, so it does not compete with the load.
"""

from __future__ import annotations

from demo.seed.randomness import SCHEMA
from demo.seed.runner import Task

RESTORE_TABLE = f"{SCHEMA}.restore"
# Kinds of saved statement, in replay order: indexes, the unique constraints that use them, foreign keys (which
# lock both tables, so they wait for the indexes of both), then table options.
INDEXES, UNIQUE_CONSTRAINTS, FOREIGN_KEYS, TABLE_OPTIONS = 1, 2, 3, 4

# Tables whose rows belong to customers (or describe what they bought): --reset empties these. CASCADE also empties
# any table that references them; the audit and access logs refuse DELETE but not TRUNCATE.
DOMAIN_TABLES = (
    "customers_customer", "customers_storefront", "customers_tag", "customers_customertag", "customers_note",
    "customers_activityevent", "customers_usagedaily", "customers_customermetrics",
    "subscriptions_plan", "subscriptions_subscription",
    "payments_paymentmethod", "payments_invoice", "payments_payment", "payments_refund", "payments_creditentry",
    "support_ticket", "support_ticketcomment", "support_emailmessage", "support_escalation",
    "segments_segmentmembership", "privacy_consent",
    "portal_auditevent", "portal_accesslog",
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def truncate_domain_tables(cursor) -> None:
    cursor.execute(f"TRUNCATE {', '.join(DOMAIN_TABLES)} RESTART IDENTITY CASCADE")


def restore_table_exists(cursor) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [RESTORE_TABLE])
    return cursor.fetchone()[0]


def create_restore_table(cursor) -> None:
    cursor.execute(f"CREATE TABLE {RESTORE_TABLE} (id serial PRIMARY KEY, phase int NOT NULL, "
                   f"table_name text NOT NULL, refers_to text, statement text NOT NULL)")


def take_off(cursor, tables: list[str]) -> None:
    """Drop secondary indexes, unique constraints and foreign keys of `tables`, saving how to recreate them."""
    cursor.execute("""
        SELECT t.relname, i.relname, pg_get_indexdef(i.oid), con.conname, con.condeferrable, con.condeferred
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = t.oid AND con.contype = 'u'
        WHERE t.relname = ANY(%s) AND t.relnamespace = current_schema()::regnamespace AND NOT x.indisprimary
          AND x.indpred IS NULL
        ORDER BY t.relname, i.relname
    """, [tables])
    drops, saved = [], []
    for table, index, definition, constraint, deferrable, deferred in cursor.fetchall():
        saved.append((INDEXES, table, definition))
        if constraint:
            timing = (" DEFERRABLE INITIALLY " + ("DEFERRED" if deferred else "IMMEDIATE")) if deferrable else ""
            saved.append((UNIQUE_CONSTRAINTS, table, f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(constraint)} "
                                                     f"UNIQUE USING INDEX {_quote(index)}{timing}"))
            drops.append(f"ALTER TABLE {_quote(table)} DROP CONSTRAINT {_quote(constraint)}")
        else:
            drops.append(f"DROP INDEX {_quote(index)}")
    cursor.execute("""
        SELECT t.relname, con.conname, pg_get_constraintdef(con.oid), con.confrelid::regclass::text
        FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
        WHERE con.contype = 'f' AND t.relname = ANY(%s) AND t.relnamespace = current_schema()::regnamespace
        ORDER BY t.relname, con.conname
    """, [tables])
    foreign_keys = cursor.fetchall()
    for table, constraint, definition, refers_to in foreign_keys:
        saved.append((FOREIGN_KEYS, table, f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(constraint)} "
                                           f"{definition}", refers_to))
    # Foreign keys go first: a unique constraint cannot be dropped while a foreign key relies on it.
    drops = [f"ALTER TABLE {_quote(t)} DROP CONSTRAINT {_quote(c)}" for t, c, _, _ in foreign_keys] + drops
    cursor.execute("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s) "
                   "AND relnamespace = current_schema()::regnamespace ORDER BY relname", [tables])
    for table, options in cursor.fetchall():
        previous = next((o for o in options or [] if o.startswith("autovacuum_enabled=")), None)
        saved.append((TABLE_OPTIONS, table, f"ALTER TABLE {_quote(table)} "
                                            + (f"SET ({previous})" if previous else "RESET (autovacuum_enabled)")))
        drops.append(f"ALTER TABLE {_quote(table)} SET (autovacuum_enabled = off)")
    for phase, table, statement, *refers_to in saved:
        cursor.execute(f"INSERT INTO {RESTORE_TABLE} (phase, table_name, statement, refers_to) "
                       f"VALUES (%s, %s, %s, %s)", [phase, table, statement, next(iter(refers_to), None)])
    for statement in drops:
        cursor.execute(statement)


def restore_tasks(cursor, loads_by_table: dict[str, str]) -> list[Task]:
    """The saved statements as tasks, each of which also deletes its restore row.

    A table's indexes wait for its load (named in `loads_by_table`); its unique constraints for its indexes;
    foreign keys for the indexes of both tables, one after the other (two at once would wait on each other's
    locks); table options for everything else on the table. Biggest tables come first.
    """
    cursor.execute(f"SELECT id, phase, table_name, refers_to, statement FROM {RESTORE_TABLE} "
                   f"ORDER BY phase, pg_relation_size(to_regclass(table_name)) DESC, id")
    rows = cursor.fetchall()
    names = {row_id: f"{table}: {_label(statement)}" for row_id, _, table, _, statement in rows}
    by_table: dict[tuple[int, str], set[str]] = {}
    for row_id, phase, table, _, _ in rows:
        by_table.setdefault((phase, table), set()).add(names[row_id])
    tasks, previous_foreign_key = [], set()
    for row_id, phase, table, refers_to, statement in rows:
        if phase == INDEXES:
            needs = {loads_by_table[table]} if table in loads_by_table else set()
        elif phase == UNIQUE_CONSTRAINTS:
            needs = by_table[(INDEXES, table)]
        elif phase == FOREIGN_KEYS:
            needs = set(previous_foreign_key)
            for side in (table, refers_to):
                needs |= by_table.get((INDEXES, side), set()) | by_table.get((UNIQUE_CONSTRAINTS, side), set())
                needs |= {loads_by_table[side]} if side in loads_by_table else set()
            previous_foreign_key = {names[row_id]}
        else:
            needs = set().union(*(by_table.get((p, table), set()) for p in (INDEXES, UNIQUE_CONSTRAINTS,
                                                                             FOREIGN_KEYS)))
        tasks.append(Task(names[row_id], _replay(row_id, statement), frozenset(needs)))
    return tasks


def _label(statement: str) -> str:
    words = statement.split()
    if words[0] == "CREATE":
        return "index " + words[words.index("INDEX") + 1]
    if "FOREIGN" in words:
        return "foreign key " + words[words.index("CONSTRAINT") + 1]
    if "UNIQUE" in words:
        return "unique " + words[words.index("CONSTRAINT") + 1]
    return "table options"


def _replay(row_id: int, statement: str):
    def run(cursor) -> None:
        # One simple query: the statement and the removal of its row commit together.
        cursor.execute(f"{statement}; DELETE FROM {RESTORE_TABLE} WHERE id = {int(row_id)}")
    return run
