"""What makes the audit and access logs append-only in the database, and the hash chain over audit rows.

The application role may only INSERT and SELECT on both logs (portal/db_roles.py). On top of that, triggers:
- refuse UPDATE and DELETE on both, whoever asks (the owner too, unless it drops the trigger, which the
  chain then shows);
- set `created_at` from the database clock on insert, so no client can back-date a row;
- on AuditEvent, chain the rows: under one transaction-level lock, the trigger gives the new row the next id, reads
  the `row_hash` of the row before it, and stores `row_hash = sha256(prev_hash, id, created_at, every column)`.
  Ids, times and the chain therefore follow commit order. Changing, removing or slipping in a row breaks the
  chain at that point, which `manage.py audit_verify` reports; a daily beat task (`portal.audit_chain_head`)
  logs the newest row's id and hash, so even a rewrite of the whole chain differs from what was logged.

The lock serialises transactions that write audit rows from their audit insert to their commit, which services
keep short (the audit row is written last, and no network call happens inside a transaction). The chain needs
READ COMMITTED, Postgres's and Django's default isolation, so the trigger sees the previous holder's row.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAIN_LOCK_KEY = 7_240_001  # pg_advisory_xact_lock key that serialises the chain

# The hashed content of a row, as one JSON array (unambiguous, whatever the values contain). `{row}` is NEW in the
# trigger and the table alias in audit_verify, which recomputes it independently of the function in the database.
_ROW_HASH_SQL = """encode(sha256(convert_to(jsonb_build_array(
    {row}.prev_hash, {row}.id, to_char({row}.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
    {row}.actor_id, {row}.actor_label, {row}.source, {row}.action, {row}.object_type, {row}.object_id,
    {row}.customer_id, {row}.before, {row}.after, {row}.data, {row}.request_id)::text, 'UTF8')), 'hex')"""


def row_hash_sql(row: str) -> str:
    return _ROW_HASH_SQL.format(row=row)


INSTALL_SQL = f"""
CREATE OR REPLACE FUNCTION portal_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION portal_accesslog_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.created_at := clock_timestamp();
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION portal_auditevent_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous text;
BEGIN
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK_KEY});
    NEW.id := nextval(pg_get_serial_sequence('portal_auditevent', 'id'));
    NEW.created_at := clock_timestamp();
    SELECT row_hash INTO previous FROM portal_auditevent ORDER BY id DESC LIMIT 1;
    NEW.prev_hash := coalesce(previous, '');
    NEW.row_hash := {row_hash_sql("NEW")};
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS append_only ON portal_auditevent;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON portal_auditevent
    FOR EACH ROW EXECUTE FUNCTION portal_refuse_change();
DROP TRIGGER IF EXISTS chain ON portal_auditevent;
CREATE TRIGGER chain BEFORE INSERT ON portal_auditevent FOR EACH ROW EXECUTE FUNCTION portal_auditevent_chain();
DROP TRIGGER IF EXISTS append_only ON portal_accesslog;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON portal_accesslog
    FOR EACH ROW EXECUTE FUNCTION portal_refuse_change();
DROP TRIGGER IF EXISTS stamp ON portal_accesslog;
CREATE TRIGGER stamp BEFORE INSERT ON portal_accesslog FOR EACH ROW EXECUTE FUNCTION portal_accesslog_stamp();
"""

UNINSTALL_SQL = """
DROP TRIGGER IF EXISTS append_only ON portal_auditevent;
DROP TRIGGER IF EXISTS chain ON portal_auditevent;
DROP TRIGGER IF EXISTS append_only ON portal_accesslog;
DROP TRIGGER IF EXISTS stamp ON portal_accesslog;
DROP FUNCTION IF EXISTS portal_auditevent_chain();
DROP FUNCTION IF EXISTS portal_accesslog_stamp();
DROP FUNCTION IF EXISTS portal_refuse_change();
"""


# ---- Verification ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainProblem:
    row_id: int
    message: str


@dataclass(frozen=True)
class ChainReport:
    rows: int
    head_id: int | None
    head_hash: str
    problems: list[ChainProblem]

    @property
    def intact(self) -> bool:
        return not self.problems


_VERIFY_SQL = f"""
SELECT id, row_hash, prev_hash, {row_hash_sql("r")} AS computed,
       lag(id) OVER w AS previous_id, lag(row_hash) OVER w AS previous_hash, created_at,
       lag(created_at) OVER w AS previous_created_at
FROM portal_auditevent r
WINDOW w AS (ORDER BY id)
ORDER BY id
"""


def verify_chain(connection, *, expect: dict[int, str] | None = None, batch_size: int = 5000) -> ChainReport:
    """Recompute every audit row's hash and link, oldest first. `expect` maps ids to hashes logged earlier by
    the daily head task: each must still be there, unchanged (this catches rows removed from the end)."""
    problems: list[ChainProblem] = []
    rows, head_id, head_hash = 0, None, ""
    seen: dict[int, str] = {}
    wanted = set(expect or {})
    with connection.chunked_cursor() as cursor:
        cursor.itersize = batch_size
        cursor.execute(_VERIFY_SQL)
        for (row_id, stored, prev, computed, previous_id, previous_hash, created_at,
             previous_created_at) in cursor:
            rows += 1
            head_id, head_hash = row_id, stored
            if row_id in wanted:
                seen[row_id] = stored
            if computed != stored:
                problems.append(ChainProblem(row_id, "changed: its content no longer matches its hash"))
            if prev != (previous_hash or ""):
                if previous_id is None:
                    problems.append(ChainProblem(row_id, "rows before the first remaining row were removed"))
                else:
                    problems.append(ChainProblem(row_id, f"does not follow row {previous_id}: a row between them "
                                                         f"was removed, or this one was inserted out of order"))
            if previous_created_at is not None and created_at < previous_created_at:
                problems.append(ChainProblem(row_id, f"is older than row {previous_id} before it: inserted out "
                                                     f"of order"))
    for row_id, logged_hash in sorted((expect or {}).items()):
        if row_id not in seen:
            problems.append(ChainProblem(row_id, "was logged as a chain head but is no longer in the log"))
        elif seen[row_id] != logged_hash:
            problems.append(ChainProblem(row_id, "differs from the hash logged for it as a chain head"))
    return ChainReport(rows=rows, head_id=head_id, head_hash=head_hash, problems=problems)


def chain_head(connection) -> tuple[int | None, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, row_hash FROM portal_auditevent ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (None, "")
