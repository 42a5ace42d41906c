"""Audit and access-log history, so a manager opening the audit page of a fresh demo sees a real log.

The logs are append-only and their insert triggers stamp `created_at` with the database clock (and, on AuditEvent,
hash-chain the rows: portal/audit_chain.py), which would date the whole history at load time. So the seeder, as the
owner role, writes the history with those triggers switched off, in one statement (a DO block: all or nothing,
the triggers are back on when it ends, even in an autocommit bulk session):
- audit rows in time order, ids from the table's own sequence, and each row's `prev_hash` / `row_hash` computed
  with the expression the trigger uses (`portal.audit_chain.row_hash_sql`), so `manage.py audit_verify` accepts
  the seeded chain and the application's next row links on to it;
- access-log rows (an agent opening the profile, and sometimes a tab, a few minutes before each change).
It only runs while the audit log is empty: back-dated rows behind existing ones would break the chain's time order.

The history is the newest HISTORY_EVENTS agent actions the demo data already holds (notes, tags, refunds), plus
a few profile edits, as the services record them: ids, amounts and names of changed fields, never a personal value.
A few thousand rows whatever the number of customers: at 1M customers that is the last days, at 300 all of it.
"""

from __future__ import annotations

from demo.seed.randomness import SCHEMA as S
from demo.seed.randomness import choice, pick, u
from portal.audit_chain import CHAIN_LOCK_KEY, row_hash_sql

HISTORY_EVENTS_PER_CUSTOMER = 0.5
HISTORY_EVENTS_MIN, HISTORY_EVENTS_MAX = 100, 4000
_PROFILE_EDITS = ('["email"]', '["phone"]', '["address_line1", "city", "postal_code"]', '["last_name"]',
                  '["phone", "email"]')
_TABS = ("customers:profile_tab:payments", "customers:profile_tab:activity", "customers:profile_tab:notes",
         "customers:profile_tab:subscriptions")


def history_events(customers: int) -> int:
    return max(HISTORY_EVENTS_MIN, min(HISTORY_EVENTS_MAX, int(customers * HISTORY_EVENTS_PER_CUSTOMER)))


# The newest agent actions, chosen from narrow rows first; public ids and labels are joined for those only.
_EVENTS = f"""
CREATE TABLE {S}.audit_history AS
SELECT row_number() OVER (ORDER BY e.at, e.kind, e.key) AS n, e.*
FROM (
    SELECT * FROM (
        SELECT 1 AS kind, n.id AS key, n.created_at AS at, n.author_id AS actor_id, n.customer_id,
               length(n.body) AS amount
        FROM customers_note n
        UNION ALL
        SELECT 2, ct.id, ct.added_at, ct.added_by_id, ct.customer_id, ct.tag_id FROM customers_customertag ct
        UNION ALL
        -- refunds the stories cap at an hour before the anchor are spread over that day instead of one instant
        SELECT 3, r.id, CASE WHEN r.created_at >= {S}.anchor() - interval '1 hour'
                             THEN r.created_at - make_interval(secs => {pick('r.id', 127, 20 * 3600)})
                             ELSE r.created_at END,
               r.created_by_id, NULL, r.payment_id
        FROM payments_refund r
        UNION ALL
        SELECT 4, c.id, c.registered_at + ({S}.anchor() - c.registered_at) * {u('c.id', 121)},
               CASE WHEN {u('c.id', 122)} < 0.8 THEN {S}.agent_id() ELSE {S}.manager_id() END, c.id,
               {pick('c.id', 123, len(_PROFILE_EDITS))}
        FROM {S}.cust c
        WHERE NOT c.erased AND {u('c.id', 120)} < 0.04
    ) candidates
    WHERE at <= least({S}.anchor(), statement_timestamp())
    ORDER BY at DESC, kind DESC, key DESC
    LIMIT %(events)s
) e
"""

_AUDIT_ROWS = f"""
CREATE TABLE {S}.audit_rows (LIKE portal_auditevent);
INSERT INTO {S}.audit_rows (id, created_at, actor_id, actor_label, source, action, object_type, object_id,
                            customer_id, before, after, data, request_id, prev_hash, row_hash)
SELECT h.n, h.at, h.actor_id, coalesce(usr.username, ''), 'agent',
       CASE h.kind WHEN 1 THEN 'customers.note.added' WHEN 2 THEN 'customers.tag.added'
                   WHEN 3 THEN 'payments.refund.created' ELSE 'customers.profile.updated' END,
       CASE h.kind WHEN 1 THEN 'customers.note' WHEN 3 THEN 'payments.refund' ELSE 'customers.customer' END,
       CASE h.kind WHEN 1 THEN h.key::text WHEN 3 THEN r.public_id ELSE c.public_id END,
       coalesce(h.customer_id, p.customer_id), '{{}}'::jsonb, '{{}}'::jsonb,
       CASE h.kind WHEN 1 THEN jsonb_build_object('length', h.amount)
                   WHEN 2 THEN jsonb_build_object('tag', tg.name)
                   WHEN 3 THEN jsonb_build_object('payment', p.public_id, 'refund', r.public_id, 'amount', r.amount,
                                                  'currency', r.currency, 'reason', r.reason)
                   ELSE jsonb_build_object('fields', (ARRAY[{', '.join(f"'{f}'" for f in _PROFILE_EDITS)}])
                                                      [1 + h.amount::int]::jsonb) END,
       md5('seed-request-' || h.n), '', ''
FROM {S}.audit_history h
LEFT JOIN auth_user usr ON usr.id = h.actor_id
LEFT JOIN customers_tag tg ON h.kind = 2 AND tg.id = h.amount
LEFT JOIN payments_refund r ON h.kind = 3 AND r.id = h.key
LEFT JOIN payments_payment p ON h.kind = 3 AND p.id = h.amount
LEFT JOIN customers_customer c ON c.id = coalesce(h.customer_id, p.customer_id)
ORDER BY h.n
"""

# Before each change its author opened the profile (and now and then a tab) a few minutes earlier.
_ACCESS_ROWS = f"""
CREATE TABLE {S}.access_rows AS
SELECT a.created_at - make_interval(secs => 60 + {pick('a.id * 3 + v.step', 124, 540)} + 600 * (2 - v.step))
           AS created_at,
       a.actor_id AS user_id, a.customer_id,
       CASE v.step WHEN 1 THEN 'customers:profile' ELSE {choice(_TABS, 'a.id', 125)} END AS view,
       CASE WHEN a.actor_label = 'manager' THEN '10.20.0.12' ELSE '10.20.0.11' END::inet AS ip_address,
       md5('seed-view-' || a.id || '-' || v.step) AS request_id
FROM {S}.audit_rows a
CROSS JOIN (VALUES (1), (2)) AS v(step)
WHERE a.customer_id IS NOT NULL AND (v.step = 1 OR {u('a.id', 126)} < 0.4)
"""

_WRITE = f"""
DO $$
DECLARE
    r portal_auditevent%ROWTYPE;
    previous text := '';
BEGIN
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK_KEY});
    ALTER TABLE portal_auditevent DISABLE TRIGGER chain;
    FOR r IN SELECT * FROM {S}.audit_rows ORDER BY id LOOP
        r.id := nextval(pg_get_serial_sequence('portal_auditevent', 'id'));
        r.prev_hash := previous;
        r.row_hash := {row_hash_sql("r")};
        INSERT INTO portal_auditevent VALUES (r.*);
        previous := r.row_hash;
    END LOOP;
    ALTER TABLE portal_auditevent ENABLE TRIGGER chain;

    ALTER TABLE portal_accesslog DISABLE TRIGGER stamp;
    INSERT INTO portal_accesslog (created_at, user_id, customer_id, view, ip_address, request_id)
    SELECT created_at, user_id, customer_id, view, ip_address, request_id FROM {S}.access_rows
    ORDER BY created_at, customer_id, view;
    ALTER TABLE portal_accesslog ENABLE TRIGGER stamp;
END $$
"""


def write_history(cursor, customers: int) -> int | None:
    """Write the audit and access-log history; the number of audit rows (None when the audit log already had
    rows, and nothing was written)."""
    cursor.execute("SELECT EXISTS (SELECT 1 FROM portal_auditevent)")
    if cursor.fetchone()[0]:
        return None
    cursor.execute(_EVENTS, {"events": history_events(customers)})
    for statement in _AUDIT_ROWS.split(";\n"):
        cursor.execute(statement)
    cursor.execute(_ACCESS_ROWS)
    cursor.execute(_WRITE)
    cursor.execute(f"SELECT count(*) FROM {S}.audit_rows")
    return cursor.fetchone()[0]
