"""The statements that fill the portal's tables from the staging tables (see stories.py), one `Load` per table.

Each table is filled in key order (see randomness.public_id for why the order matters), by one statement or, in bulk
runs, by one statement per id range (`chunk_by`) in turn; tables load in parallel with each other. Rows with
identity ids get them in the statements' row order, which is fixed: staging tables are read in their physical order
(sessions turn synchronized scans off), others with ORDER BY.
`needs` names the stories or loads whose rows a statement reads. Capacities for public ids come from
`seed_demo.totals`.

Bounded history, by design (the full history at 1M customers would be far larger than what the portal reads):
- UsageDaily has rows for the 90 days before the anchor only (what the At-Risk segment compares: last 30 days
  against the previous 60), for the customer's last subscription while it had access, and only on days with use.
- The timeline (ActivityEvent) has every registration, subscription event, refund, note, ticket and erasure, but
  payment events (succeeded / failed / pending) for the last 90 days only; the payments tab lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from demo.seed import catalog
from demo.seed.randomness import SCHEMA as S
from demo.seed.randomness import choice, pick, public_id, text_array, u, weighted
from portal.money import reporting_sql
from demo.seed.stories import ATTEMPT_DAYS

LIVE = "('trial', 'active', 'grace', 'paused')"
USAGE_DAYS = 90
RECENT_PAYMENT_EVENT_DAYS = 90
RECENT_PERIODS = 4  # the last 90 days hold at most this many monthly periods
OWNED_BY_AGENT, OWNED_BY_MANAGER = 0.15, 0.05  # shares of customers with an owner
CUSTOMER_ESCALATIONS = 0.002  # share of customers with an open escalation of their own (tickets: every escalated one)


@dataclass(frozen=True)
class Load:
    name: str
    table: str
    statements: tuple[str, ...]
    needs: tuple[str, ...]
    chunk_by: str | None = None  # "customer" or "subscription": statements select the ids IN_RANGE


IN_RANGE = "BETWEEN %(lo)s AND %(hi)s"


def _total(name: str) -> str:
    return f"(SELECT {name} FROM {S}.totals)"


_MRR = "(CASE WHEN s.status IN ('active', 'grace') THEN s.price / s.months ELSE 0 END)"

CUSTOMERS = f"""
INSERT INTO customers_customer (id, public_id, first_name, last_name, email, phone, address_line1, address_line2,
                                city, postal_code, country, storefront_id, registered_at, status, plan_id, mrr,
                                currency, mrr_reporting, subscription_state, trial_ends_at, payment_failing_since,
                                resumes_on, owner_id, updated_at)
SELECT c.id, c.public_id,
       CASE WHEN c.erased THEN 'Erased' ELSE c.first_name END,
       CASE WHEN c.erased THEN 'Customer' ELSE c.last_name END,
       CASE WHEN c.erased THEN c.public_id || '@erased.invalid'
            ELSE c.email_local || ((c.email_rank - 1) * 100 + {pick('c.id', 25, 100)})::text || '@' || c.domain END,
       CASE WHEN c.erased THEN '' ELSE c.phone END,
       CASE WHEN c.erased THEN '' ELSE c.address_line1 END,
       CASE WHEN c.erased THEN '' ELSE c.address_line2 END,
       CASE WHEN c.erased THEN '' ELSE c.city END,
       CASE WHEN c.erased THEN '' ELSE c.postal_code END,
       c.country, c.storefront_id, c.registered_at,
       CASE WHEN c.erased THEN 'erased' WHEN s.status IN {LIVE} THEN 'active'
            WHEN s.status = 'cancelled' THEN 'churned' ELSE 'inactive' END,
       CASE WHEN s.status IN {LIVE} THEN s.plan_id END,
       -- MRR: the plan's monthly price while billing (active, grace); trial and paused bring nothing yet
       {_MRR}, c.currency, {reporting_sql(_MRR, 'c.currency')},
       -- the subscription's state and its date, as customers.services.derived_state says
       coalesce(s.status, ''),
       CASE WHEN s.status = 'trial' THEN coalesce(s.trial_end, s.current_period_end) END,
       CASE WHEN s.status = 'grace' THEN s.current_period_start END,
       CASE WHEN s.status = 'paused' THEN s.resume_on END,
       -- an owner for a share of the customers: most of those the agent, some the manager
       CASE WHEN c.erased THEN NULL WHEN {u('c.id', 131)} < {OWNED_BY_AGENT} THEN {S}.agent_id()
            WHEN {u('c.id', 131)} < {OWNED_BY_AGENT + OWNED_BY_MANAGER} THEN {S}.manager_id() END,
       {S}.anchor()
FROM (SELECT *, {public_id('cus_', 'id', 1, _total('customers'))} AS public_id FROM {S}.cust
      WHERE id {IN_RANGE} OFFSET 0) c
LEFT JOIN {S}.sub s ON s.customer_id = c.id AND s.is_last
ORDER BY c.id
"""

SUBSCRIPTIONS = f"""
INSERT INTO subscriptions_subscription (id, public_id, customer_id, plan_id, status, started_at, current_period_start,
                                        current_period_end, trial_end, cancel_at_period_end, cancelled_at,
                                        cancellation_reason, paused_at, resume_on, suspended_at, ended_at,
                                        scheduled_plan_id, payment_method_id, updated_at)
SELECT s.id, {public_id('sub_', 's.id', 2, _total('subscriptions'))}, s.customer_id, s.plan_id, s.status, s.started_at,
       s.current_period_start, s.current_period_end, s.trial_end, s.cancel_at_period_end, s.cancelled_at,
       s.cancellation_reason, s.paused_at, s.resume_on, s.suspended_at, s.ended_at, s.scheduled_plan_id,
       s.customer_id, {S}.anchor()
FROM {S}.sub s
WHERE s.id {IN_RANGE}
"""

_CARD_BRANDS = (("'visa'", 55), ("'mastercard'", 35), ("'amex'", 10))

# Every customer who ever subscribed has a default method (id = customer id); some card holders also keep an old,
# expired card (id = customers + customer id). Erased customers keep the row without its details.
PAYMENT_METHODS = f"""
INSERT INTO payments_paymentmethod (id, customer_id, kind, brand, last4, exp_month, exp_year, is_default, gateway,
                                    gateway_ref, created_at)
SELECT CASE WHEN m.is_default THEN m.id ELSE {_total('customers')} + m.id END, m.id, m.kind,
       CASE WHEN m.kind = 'card' AND NOT m.erased
            THEN {weighted(u('m.id * 2 + m.is_default::int', 27), _CARD_BRANDS)}
            ELSE '' END,
       CASE WHEN m.kind IN ('card', 'sepa_debit') AND NOT m.erased
            THEN lpad({pick('m.id * 2 + m.is_default::int', 28, 10000)}::text, 4, '0') ELSE '' END,
       CASE WHEN m.kind = 'card' THEN 1 + {pick('m.id * 2 + m.is_default::int', 29, 12)} END,
       CASE WHEN m.kind = 'card' AND m.is_default
                THEN date_part('year', {S}.anchor())::int + 1 + {pick('m.id', 30, 5)}
            WHEN m.kind = 'card' THEN date_part('year', {S}.anchor())::int - 1 - {pick('m.id', 30, 3)} END,
       m.is_default, m.gateway,
       CASE WHEN m.gateway = 'sandbox' THEN 'pm_' ELSE 'store_' END
           || to_hex({S}.h(m.id * 2 + m.is_default::int, 31)),
       m.registered_at + make_interval(days => CASE WHEN m.is_default THEN 0 ELSE 1 END)
FROM (
    SELECT c.id, c.erased, c.gateway, c.registered_at, d.is_default,
           CASE WHEN c.storefront_kind IN ('app_store', 'google_play') THEN c.storefront_kind
                WHEN NOT d.is_default THEN 'card'
                WHEN c.currency = 'EUR' AND {u('c.id', 26)} < 0.15 THEN 'sepa_debit'
                WHEN {u('c.id', 26)} < 0.3 THEN 'paypal'
                ELSE 'card' END AS kind
    FROM {S}.cust c
    CROSS JOIN (VALUES (true), (false)) AS d(is_default)
    WHERE c.id {IN_RANGE} AND c.k > 0 AND (d.is_default OR (c.refundable AND {u('c.id', 32)} < 0.2))
) m
"""


def _periods(first: str, where: str) -> str:
    """One row per billing period (from period number `first` on, of subscriptions matching `where`) with what its
    invoice and payments need. OFFSET 0 keeps Postgres from substituting these expressions into every place the
    outer query uses them."""
    return f"""
    SELECT s.id AS subscription_id, s.customer_id, s.seq, s.currency, s.gateway, s.refundable, s.status, s.hard,
           s.plan_id, s.price, s.tax, s.retry_gap_days, s.final_attempts, i AS period,
           s.invoice_base + i + 1 AS invoice_id,
           s.payment_base + i + CASE WHEN least(i, s.retry_periods) > s.retry_r
                                     THEN (least(i, s.retry_periods) - 1 - s.retry_r) / s.retry_m + 1 ELSE 0 END
               AS payments_before,
           s.billing_start + make_interval(months => i * s.months) AS starts,
           s.billing_start + make_interval(months => (i + 1) * s.months) AS ends,
           i < s.retry_periods AND mod(i, s.retry_m) = s.retry_r AS retried,
           i = s.periods - 1 AND s.failing AS failing,
           i = s.periods - 1 AND s.pending AS pending,
           CASE WHEN i = s.credit_period THEN s.credit_applied ELSE 0 END AS credit
    FROM {S}.sub s
    CROSS JOIN LATERAL generate_series({first}, s.periods - 1) AS i
    WHERE {where}
    OFFSET 0
"""


# Day offsets are added as seconds: adding days to a timestamptz goes through calendar arithmetic, seconds do not
# (the data is in UTC, so a day is always 86,400 s).
INVOICES = f"""
INSERT INTO payments_invoice (id, public_id, number, customer_id, subscription_id, status, currency, lines,
                              subtotal, tax, total, credit_applied, period_start, period_end, issued_at, due_at,
                              paid_at, billing_reason, payment_failed_at, next_retry_at)
SELECT v.invoice_id, {public_id('inv_', 'v.invoice_id', 3, _total('invoices'))},
       'INV-' || (1000000000 + v.invoice_id)::text, v.customer_id, v.subscription_id,
       CASE WHEN NOT (v.failing OR v.pending) THEN 'paid' WHEN v.status = 'expired' THEN 'uncollectible'
            ELSE 'open' END,
       v.currency, pl.lines, v.price, v.tax, v.price + v.tax, v.credit, v.starts, v.ends, v.starts, v.starts,
       CASE WHEN v.failing OR v.pending THEN NULL
            WHEN v.retried THEN v.starts + make_interval(secs => v.retry_gap_days * 86400) ELSE v.starts END,
       'subscription_cycle',
       -- the dunning schedule of a failing period (payments/dunning.py): counted from its first failed charge, on
       -- the period's first day; a grace subscription's next retry is the next attempt day, none after a hard decline
       CASE WHEN v.failing THEN v.starts END,
       CASE WHEN v.failing AND v.status = 'grace' AND NOT v.hard
            THEN v.starts + make_interval(secs => 86400 * (ARRAY{list(ATTEMPT_DAYS)})[v.final_attempts + 1]) END
FROM ({_periods('0', f's.id {IN_RANGE}')}) v
JOIN {S}.plan pl ON pl.id = v.plan_id
"""

_SOFT = text_array(code for code, _ in catalog.SOFT_DECLINES)
_SOFT_MESSAGES = text_array(message for _, message in catalog.SOFT_DECLINES)
_HARD = text_array(code for code, _ in catalog.HARD_DECLINES)
_HARD_MESSAGES = text_array(message for _, message in catalog.HARD_DECLINES)


def _payments(first_period: str, where: str) -> str:
    """The payments of billing periods from number `first_period` on (see _periods), in id order.

    A payment's id is the subscription's payment_base plus the rows of earlier periods (one each, two for a retried
    period) plus its attempt number. Showcase customers (ids 1-14) have their first payment refunded.
    """
    return f"""
SELECT x.id, {public_id('pay_', 'x.id', 4, _total('payments'))} AS public_id, x.customer_id, x.invoice_id,
       x.customer_id AS payment_method_id, x.due AS amount,
       CASE x.refund WHEN 'full' THEN x.due WHEN 'partial' THEN (x.due * (0.2 + 0.5 * {u('x.id', 55)}))::bigint
                     ELSE 0 END AS amount_refunded,
       x.currency,
       CASE WHEN x.declined THEN 'failed' WHEN x.pending THEN 'pending' WHEN x.refund = 'full' THEN 'refunded'
            WHEN x.refund = 'partial' THEN 'partially_refunded' ELSE 'succeeded' END AS status,
       CASE WHEN NOT x.declined THEN '' WHEN x.hard THEN ({_HARD})[1 + x.reason] ELSE ({_SOFT})[1 + x.reason] END
           AS failure_code,
       CASE WHEN NOT x.declined THEN ''
            WHEN x.hard THEN ({_HARD_MESSAGES})[1 + x.reason] ELSE ({_SOFT_MESSAGES})[1 + x.reason] END
           AS failure_message,
       CASE WHEN NOT x.declined THEN '' WHEN x.hard THEN 'hard' ELSE 'soft' END AS decline_type,
       x.attempt, x.gateway, 'ch_' || to_hex({S}.h(x.id, 56)) AS gateway_ref, x.created_at,
       -- about 1 captured card payment in 400 has an open dispute (chargeback): it cannot be refunded here
       NOT x.declined AND NOT x.pending AND x.refund IS NULL AND x.gateway = 'sandbox'
           AND {u('x.id', 58)} < 0.0025 AS disputed
FROM (
    SELECT y.*,
           CASE WHEN y.declined OR y.pending OR NOT y.refundable THEN NULL
                WHEN y.customer_id <= 14 AND y.seq = 1 AND y.period = 0
                    THEN CASE WHEN mod(y.customer_id, 2) = 1 THEN 'full' ELSE 'partial' END
                WHEN {u('y.id', 53)} < 0.015 THEN CASE WHEN {u('y.id', 54)} < 0.5 THEN 'full' ELSE 'partial' END
           END AS refund
    FROM (
        SELECT v.payments_before + t AS id, v.customer_id, v.seq, v.period, t AS attempt, v.invoice_id,
               v.currency, v.gateway, v.refundable, v.pending, v.price + v.tax - v.credit AS due,
               v.failing OR (v.retried AND t = 1) AS declined, v.failing AND v.hard AS hard,
               {pick('v.invoice_id', 57, 4)} AS reason,
               v.starts + make_interval(secs => 86400 * CASE WHEN v.failing THEN (ARRAY{list(ATTEMPT_DAYS)})[t]
                                                             WHEN v.retried AND t = 2 THEN v.retry_gap_days
                                                             ELSE 0 END) AS created_at
        FROM ({_periods(first_period, where)}) v
        CROSS JOIN LATERAL generate_series(1, CASE WHEN v.failing THEN v.final_attempts
                                                   WHEN v.retried THEN 2 ELSE 1 END) AS t
        OFFSET 0
    ) y
) x
"""


PAYMENTS = f"""
INSERT INTO payments_payment (id, public_id, customer_id, invoice_id, payment_method_id, amount, amount_refunded,
                              currency, status, failure_code, failure_message, decline_type, attempt, gateway,
                              gateway_ref, created_at, disputed)
{_payments('0', f's.id {IN_RANGE}')}
"""

# A goodwill grant on some customers' last subscription, applied to a later invoice when there is one.
CREDIT_ENTRIES = f"""
INSERT INTO payments_creditentry (customer_id, kind, amount, currency, reason, invoice_id, created_by_id, created_at)
SELECT s.customer_id, e.kind, e.amount, s.currency, e.reason, e.invoice_id, e.created_by, e.created_at
FROM {S}.sub s
CROSS JOIN LATERAL (SELECT CASE WHEN s.credit_period >= 0
                               THEN s.billing_start + make_interval(months => s.credit_period * s.months) END
                               AS applied_at) a
CROSS JOIN LATERAL (VALUES
    ('grant', s.credit_amount, {choice(catalog.CREDIT_REASONS, 's.id', 58)},
     NULL::bigint, {S}.agent_id(),
     coalesce(a.applied_at - interval '3 days', {S}.anchor() - make_interval(days => 1 + {pick('s.id', 59, 60)}))),
    ('applied', s.credit_applied, 'Applied to invoice', s.invoice_base + s.credit_period + 1, NULL::bigint,
     a.applied_at)
) AS e(kind, amount, reason, invoice_id, created_by, created_at)
WHERE s.credit_amount > 0 AND (e.kind = 'grant' OR s.credit_period >= 0)
"""

# Days with use in the 90 days before the anchor while the last subscription gave access: one day in every `gap`
# days, at a random offset, where the gap reflects the customer's engagement. Some customers' gap widened in the last
# 30 days (the At-Risk signal), some narrowed. Rows come out in (customer, day) order, the unique index's order.
USAGE = f"""
INSERT INTO customers_usagedaily (customer_id, day, sessions)
SELECT d.customer_id, {S}.anchor()::date - d.back, 1 + {pick('d.customer_id * 128 + d.back', 73, 6)}
FROM (
    SELECT w.customer_id, seg.last_back,
           seg.first_back + k * seg.gap + {pick('w.customer_id * 128 + seg.first_back + k * seg.gap', 72, 'seg.gap')}
               AS back
    FROM (
        SELECT s.customer_id,
               greatest(1, {S}.anchor()::date - coalesce(s.ended_at, s.suspended_at, s.paused_at, {S}.anchor())::date)
                   AS first_back,
               least({USAGE_DAYS}, {S}.anchor()::date - s.started_at::date) AS last_back,
               3 + {pick('s.customer_id', 70, 8)} AS gap, {u('s.customer_id', 71)} AS trend
        FROM {S}.sub s
        WHERE s.id {IN_RANGE} AND s.is_last AND NOT s.erased
        OFFSET 0
    ) w
    CROSS JOIN LATERAL (VALUES
        (1, greatest(w.first_back, 31), w.last_back, CASE WHEN w.trend > 0.9 THEN 3 * w.gap ELSE w.gap END),
        (2, w.first_back, least(30, w.last_back), CASE WHEN w.trend < 0.15 THEN 3 * w.gap ELSE w.gap END)
    ) AS seg(ord, first_back, last_back, gap)
    CROSS JOIN LATERAL generate_series((seg.last_back - seg.first_back) / seg.gap, 0, -1) AS k
    WHERE seg.last_back >= seg.first_back
) d
WHERE d.back <= d.last_back
"""

_SUBJECTS, _FIRST_MESSAGES, _REPLIES = zip(*catalog.TICKET_TOPICS)  # one topic per ticket, picked by its id
_TICKET_STATUS_RECENT = weighted(u("base.id", 83), [("'open'", 45), ("'pending'", 30), ("'escalated'", 10),
                                                    ("'solved'", 15)])
# Old tickets are settled (an escalation waits days, not years, for a manager; each escalated ticket gets one).
_TICKET_STATUS_OLD = weighted(u("base.id", 83), [("'closed'", 55), ("'solved'", 42), ("'open'", 3)])

def _reply_target_seconds(priority: str) -> str:
    """SQL: the first-reply target of the ticket priority `priority` (an SQL expression), in seconds (support/rules.py)."""
    from support.rules import PRIORITIES, response_target

    branches = " ".join(f"WHEN '{code}' THEN {int(response_target(code).total_seconds())}" for code in PRIORITIES)
    return f"(CASE {priority} {branches} END)"


# The first agent reply comes this many hours after the ticket opened; the follow-up and closing reply keep the step.
_REPLY_STEP = f"(1 + {pick('t.id', 89, 20)})"

# Open tickets (no reply yet) were opened in the last day and a half, so the queues show a realistic mix of replies
# still due and overdue ones (urgent after 1 h, high after 4 h, normal after 24 h; low never here).
TICKETS = f"""
INSERT INTO support_ticket (id, public_id, customer_id, subject, description, status, priority, assignee_id,
                            created_by_id, created_at, updated_at, first_response_at, due_at)
SELECT t.id, {public_id('tkt_', 't.id', 5, 't.tickets')}, t.customer_id,
       {choice(_SUBJECTS, 't.id', 81)}, {choice(_FIRST_MESSAGES, 't.id', 81)},
       t.status, t.priority,
       CASE WHEN t.status = 'escalated' THEN {S}.manager_id()
            WHEN t.status IN ('solved', 'closed') OR {u('t.id', 85)} < 0.7 THEN {S}.agent_id() END,
       CASE WHEN {u('t.id', 86)} < 0.2 THEN {S}.agent_id() END,
       t.created_at, least(t.created_at + make_interval(hours => 2 + {pick('t.id', 87, 72)}), {S}.anchor()),
       CASE WHEN t.status <> 'open' THEN least(t.created_at + make_interval(hours => {_REPLY_STEP}), {S}.anchor()) END,
       CASE WHEN t.status = 'open' THEN t.created_at + make_interval(secs => {_reply_target_seconds('t.priority')}) END
FROM (
    SELECT s0.id, s0.tickets, s0.customer_id, s0.status,
           {weighted(u('s0.id', 84), [("'low'", 20), ("'normal'", 60), ("'high'", 15), ("'urgent'", 5)])} AS priority,
           CASE WHEN s0.status = 'open'
                THEN greatest(s0.created_at, {S}.anchor() - make_interval(mins => {pick('s0.id', 97, 36 * 60)}))
                ELSE s0.created_at END AS created_at
    FROM (
        SELECT base.*, CASE WHEN base.created_at > {S}.anchor() - interval '14 days' THEN {_TICKET_STATUS_RECENT}
                            ELSE {_TICKET_STATUS_OLD} END AS status
        FROM (
            SELECT row_number() OVER (ORDER BY c.id, n) AS id, count(*) OVER () AS tickets, c.id AS customer_id,
                   c.registered_at + ({S}.anchor() - c.registered_at) * {u('c.id * 4 + n', 82)} AS created_at
            FROM {S}.cust c
            CROSS JOIN LATERAL generate_series(1, 1 + ({u('c.id', 80)} < 0.3)::int + ({u('c.id', 80)} < 0.08)::int) n
            WHERE NOT c.erased AND {u('c.id', 79)} < 0.1
        ) base
    ) s0
) t
"""

# The customer's request is the ticket's description. Then: an internal note (on half the tickets, and on every
# escalated one), the agent's public reply (all but open tickets), and for settled tickets the customer's follow-up
# and a closing reply.
TICKET_COMMENTS = f"""
INSERT INTO support_ticketcomment (ticket_id, author_id, from_customer, public, body, created_at)
SELECT t.id, CASE WHEN k.kind = 'customer' THEN NULL ELSE coalesce(t.assignee_id, {S}.agent_id()) END,
       k.kind = 'customer', k.kind <> 'note',
       CASE k.kind WHEN 'note' THEN {choice(catalog.TICKET_INTERNAL_NOTES, 't.id', 96)}
                   WHEN 'reply' THEN {choice(_REPLIES, 't.id', 81)}
                   WHEN 'customer' THEN {choice(catalog.CUSTOMER_FOLLOW_UPS, 't.id', 88)}
                   ELSE 'Glad we could help. I am closing this ticket; just reply to reopen it.' END,
       least(t.created_at + make_interval(mins => k.step * 60 * {_REPLY_STEP} + 20), {S}.anchor())
FROM support_ticket t
CROSS JOIN LATERAL (VALUES (1, 'note', 0), (2, 'reply', 1), (3, 'customer', 2), (4, 'closing', 3)) AS k(n, kind, step)
WHERE CASE k.kind WHEN 'note' THEN t.status = 'escalated' OR {u('t.id', 98)} < 0.5
                  WHEN 'reply' THEN t.status <> 'open'
                  WHEN 'customer' THEN t.status IN ('solved', 'closed') AND {pick('t.id', 90, 2)} = 1
                  ELSE t.status IN ('solved', 'closed') END
ORDER BY t.id, k.n
"""

# A few emails per contacted customer, from the templates the support migration installs (support/migrations/0003):
# transactional ones only (the newsletter needs consent, which these rows do not look at). Mostly sent; some failed
# with the reason a mail server gives. None left queued: `make run`'s recovery job would send them all at once.
_EMAIL_TEMPLATES = "('welcome', 0), ('card-update-reminder', 1), ('payment-failed', 2), ('renewal-notice', 3)"


def _html(text_sql: str) -> str:
    escaped = f"replace(replace(replace({text_sql}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"
    return f"'<p>' || replace(replace({escaped}, E'\\n\\n', '</p><p>'), E'\\n', '<br>') || '</p>'"


_EMAIL_SUBJECT = """CASE e.code WHEN 'welcome' THEN 'Welcome aboard, ' || e.first_name
                    WHEN 'card-update-reminder' THEN 'Please update your card, ' || e.first_name
                    WHEN 'payment-failed' THEN 'Your payment did not go through'
                    ELSE 'Your subscription renews soon' END"""
_CARD_LINK = (settings.CUSTOMER_PORTAL_URL.rstrip("/") + "/billing/payment-method").replace("'", "''")
_EMAIL_TEXT = f"""'Hi ' || b.first_name || E',\\n\\n' || CASE b.code
    WHEN 'welcome' THEN E'Thanks for joining us. Your account is ready.\\n\\nIf anything is unclear, just reply to '
                        || 'this email: a real person reads every reply.'
    WHEN 'card-update-reminder' THEN E'The card we have on file is about to expire or was declined. To keep your '
                                     || E'access without interruption, update it here:\\n\\n{_CARD_LINK}'
    WHEN 'payment-failed' THEN E'We could not collect your latest payment. We will try again over the next few '
                               || E'days. To settle it now, update your card:\\n\\n{_CARD_LINK}'
    ELSE E'A friendly reminder: your subscription renews soon. Nothing to do if you want to keep it.' END
    || E'\\n\\n' || CASE WHEN b.created_by_id IS NULL THEN 'The support team' ELSE 'Support' END || E'\\n'"""

EMAILS = f"""
INSERT INTO support_emailmessage (id, public_id, customer_id, template_id, to_address, subject, text_body,
                                  html_body, status, provider_message_id, error, attempts, created_at,
                                  next_attempt_at, sending_since, sent_at, created_by_id)
SELECT e.id, e.public_id, e.customer_id, e.template_id, e.email, {_EMAIL_SUBJECT}, e.text_body,
       {_html('e.text_body')}, e.status, '<' || e.public_id || '@example.com>',
       CASE WHEN e.status = 'failed' THEN
            CASE WHEN {u('e.id', 131)} < 0.7 THEN 'The recipient was refused: 550 5.1.1 Mailbox unavailable'
                 ELSE 'Gave up after 5 attempts. Last error: ConnectionRefusedError: [Errno 111] Connection refused'
            END ELSE '' END,
       CASE WHEN e.status = 'failed' AND {u('e.id', 131)} >= 0.7 THEN 5 ELSE 1 END,
       e.created_at, e.created_at, NULL,
       CASE WHEN e.status = 'sent' THEN e.created_at + make_interval(secs => 2 + {pick('e.id', 132, 20)}) END,
       e.created_by_id
FROM (
    SELECT b.*, {public_id('eml_', 'b.id', 7, 'b.emails')} AS public_id,
           CASE WHEN {u('b.id', 133)} < 0.06 THEN 'failed' ELSE 'sent' END AS status,
           {_EMAIL_TEXT} AS text_body
    FROM (
        SELECT row_number() OVER (ORDER BY c.id, n) AS id, count(*) OVER () AS emails, c.id AS customer_id,
               c.first_name, c.email, t.id AS template_id, t.code,
               c.registered_at + ({S}.anchor() - c.registered_at) * {u('c.id * 4 + n', 128)} AS created_at,
               CASE WHEN t.code = 'welcome' THEN NULL ELSE {S}.agent_id() END AS created_by_id
        FROM customers_customer c
        CROSS JOIN LATERAL generate_series(1, 1 + ({u('c.id', 127)} < 0.3)::int) AS n
        JOIN (VALUES {_EMAIL_TEMPLATES}) AS v(code, slot) ON v.slot = {pick('c.id * 4 + n', 129, 4)}
        JOIN support_emailtemplate t ON t.code = v.code
        WHERE c.status <> 'erased' AND {u('c.id', 130)} < 0.12
    ) b
) e
"""

_ESCALATION_REASONS = ("'billing_dispute'", "'refund_over_limit'", "'complaint'", "'churn_risk'", "'technical'",
                       "'legal'")
_ESCALATION_NOTES = ("Says they were charged twice this month.", "Wants a refund above my limit.",
                     "Unhappy with the response times; asked for a manager.", "Big account thinking of leaving.",
                     "Sync keeps failing after every fix we tried.", "Mentions a chargeback with their bank.")

# An open escalation for every escalated ticket, raised by the agent a few hours after the ticket, and a few of
# customers as a whole; then the customers' marker (escalated_at: the oldest open one).
ESCALATIONS = (
    f"""
INSERT INTO support_escalation (public_id, customer_id, ticket_id, reason, note, status, raised_by_id, raised_at,
                                resolution_note)
SELECT {public_id('esc_', 'e.n', 7, 'e.total')}, e.customer_id, e.ticket_id,
       ({'ARRAY[' + ', '.join(_ESCALATION_REASONS) + ']'})[1 + {pick('e.n', 132, len(_ESCALATION_REASONS))}],
       {choice(_ESCALATION_NOTES, 'e.n', 132)}, 'open', {S}.agent_id(), e.raised_at, ''
FROM (
    SELECT row_number() OVER (ORDER BY x.customer_id, x.ticket_id NULLS FIRST) AS n, count(*) OVER () AS total, x.*
    FROM (
        SELECT t.customer_id, t.id AS ticket_id,
               least(t.created_at + make_interval(hours => 1 + {pick('t.id', 133, 48)}), {S}.anchor()) AS raised_at
        FROM support_ticket t WHERE t.status = 'escalated'
        UNION ALL
        SELECT c.id, NULL, {S}.anchor() - make_interval(hours => 1 + {pick('c.id', 134, 96)})
        FROM {S}.cust c WHERE NOT c.erased AND {u('c.id', 135)} < {CUSTOMER_ESCALATIONS}
    ) x
) e
ORDER BY e.n
""",
    """
UPDATE customers_customer c SET escalated_at = e.oldest
FROM (SELECT customer_id, min(raised_at) AS oldest FROM support_escalation WHERE status = 'open'
      GROUP BY customer_id) e
WHERE c.id = e.customer_id
""",
)

NOTES = f"""
INSERT INTO customers_note (customer_id, author_id, body, created_at)
SELECT c.id, CASE WHEN {u('c.id * 4 + n', 92)} < 0.75 THEN {S}.agent_id() ELSE {S}.manager_id() END,
       {choice(catalog.NOTES, 'c.id * 4 + n', 93)},
       c.registered_at + ({S}.anchor() - c.registered_at) * {u('c.id * 4 + n', 94)}
FROM {S}.cust c
CROSS JOIN LATERAL generate_series(1, 1 + ({u('c.id', 91)} < 0.25)::int) AS n
WHERE NOT c.erased AND {u('c.id', 95)} < 0.12
"""

_TAGS = len(catalog.TAGS)
CUSTOMER_TAGS = f"""
INSERT INTO customers_customertag (customer_id, tag_id, added_by_id, added_at)
SELECT c.id, tg.id, CASE WHEN {u('c.id * 4 + n', 98)} < 0.8 THEN {S}.agent_id() ELSE {S}.manager_id() END,
       c.registered_at + ({S}.anchor() - c.registered_at) * {u('c.id * 4 + n', 99)}
FROM {S}.cust c
CROSS JOIN LATERAL generate_series(1, 1 + ({u('c.id', 96)} < 0.25)::int) AS n
JOIN {S}.tag tg ON tg.idx = CASE n WHEN 1 THEN {pick('c.id', 97, _TAGS)}
                               ELSE mod({pick('c.id', 97, _TAGS)} + 1 + {pick('c.id', 100, _TAGS - 1)}, {_TAGS}) END
WHERE NOT c.erased AND {u('c.id', 101)} < 0.2
ORDER BY c.id, n
"""

_CONSENT_SPECS = ", ".join(
    f"({slot}, '{purpose}', '{channel}', {recorded}, {granted}, {str(app_only).lower()})"
    for slot, (purpose, channel, recorded, granted, app_only) in enumerate(catalog.CONSENTS)
)
# One record per purpose and channel at sign-up, and for some a later change of mind in the preference centre.
CONSENTS = f"""
INSERT INTO privacy_consent (customer_id, purpose, channel, granted, source, version, recorded_at)
SELECT r.customer_id, r.purpose, r.channel, r.granted, r.source, r.version, r.recorded_at
FROM (
    SELECT c.id AS customer_id, v.slot, 1 AS ord, v.purpose, v.channel,
           {u('c.id * 8 + v.slot', 103)} < v.granted_share AS granted,
           CASE WHEN c.storefront_kind IN ('app_store', 'google_play') THEN 'app_signup' ELSE 'signup_form' END
               AS source,
           CASE WHEN c.registered_at < {S}.anchor() - interval '2 years' THEN '1.0' ELSE '2.0' END AS version,
           c.registered_at AS recorded_at
    FROM {S}.cust c
    CROSS JOIN (VALUES {_CONSENT_SPECS}) AS v(slot, purpose, channel, recorded_share, granted_share, app_only)
    WHERE c.id {IN_RANGE} AND NOT c.erased AND {u('c.id * 8 + v.slot', 102)} < v.recorded_share
      AND (NOT v.app_only OR c.storefront_kind IN ('app_store', 'google_play'))
    UNION ALL
    SELECT c.id, 0, 2, 'marketing', 'email', NOT ({u('c.id * 8', 103)} < {catalog.CONSENTS[0][3]}),
           'preference_center', '2.1',
           c.registered_at + ({S}.anchor() - c.registered_at) * (0.2 + 0.8 * {u('c.id', 105)})
    FROM {S}.cust c
    WHERE c.id {IN_RANGE} AND NOT c.erased AND {u('c.id', 104)} < {catalog.CONSENT_CHANGE_SHARE}
) r
"""

REFUNDS = f"""
INSERT INTO payments_refund (id, public_id, payment_id, amount, currency, status, reason, created_by_id,
                             idempotency_key, created_at)
SELECT r.id, {public_id('re_', 'r.id', 6, 'r.refunds')}, r.payment_id, r.amount, r.currency, r.status,
       {choice(catalog.REFUND_REASONS, 'r.payment_id', 107)},
       CASE WHEN r.amount > {settings.PORTAL['AGENT_REFUND_LIMIT']} THEN {S}.manager_id() ELSE {S}.agent_id() END,
       '', r.created_at
FROM (
    SELECT row_number() OVER (ORDER BY p.id, v.attempt) AS id, count(*) OVER () AS refunds, p.id AS payment_id,
           p.amount_refunded AS amount,
           p.currency, v.status,
           least(p.created_at + make_interval(hours => 6 + {pick('p.id', 106, 400)} + 24 * v.attempt),
                 {S}.anchor() - interval '1 hour') AS created_at
    FROM payments_payment p
    CROSS JOIN (VALUES (1, 'failed'), (2, 'succeeded')) AS v(attempt, status)
    WHERE p.status IN ('refunded', 'partially_refunded')
      AND (v.status = 'succeeded' OR {u('p.id', 108)} < 0.08)
) r
"""

# Lifetime value = captured payments minus refunds. Every paid period has exactly one captured payment (its price
# plus tax, less any credit applied; the last one never needed a retry), so the payment figures come from the
# stories rather than from a pass over the payments table. Usage: the last 30 days, and the 60 before as a monthly
# average. (The LATERAL ... OFFSET 0 makes the refund-to-payment lookup use the primary key, not a full scan.)
METRICS = f"""
INSERT INTO customers_customermetrics (customer_id, lifetime_value, total_paid, payments_count, last_payment_at,
                                       usage_last_30d, usage_prev_60d_monthly_avg, computed_at)
SELECT c.id, coalesce(p.paid, 0) - coalesce(r.refunded, 0), coalesce(p.paid, 0), coalesce(p.n, 0), p.last_at,
       coalesce(u.last_30, 0), coalesce(u.prev_60, 0) / 2, {S}.anchor()
FROM {S}.cust c
LEFT JOIN (
    SELECT customer_id,
           sum(paid_periods * (price + tax) - CASE WHEN credit_period >= 0 THEN credit_applied ELSE 0 END) AS paid,
           sum(paid_periods) AS n,
           max(CASE WHEN paid_periods > 0
                    THEN billing_start + make_interval(months => (paid_periods - 1) * months) END) AS last_at
    FROM {S}.sub GROUP BY customer_id
) p ON p.customer_id = c.id
LEFT JOIN (
    SELECT pay.customer_id, sum(r.amount) AS refunded
    FROM payments_refund r
    CROSS JOIN LATERAL (SELECT customer_id FROM payments_payment WHERE id = r.payment_id OFFSET 0) pay
    WHERE r.status = 'succeeded'
    GROUP BY pay.customer_id
) r ON r.customer_id = c.id
LEFT JOIN (
    SELECT customer_id,
           coalesce(sum(sessions) FILTER (WHERE day >= {S}.anchor()::date - 30), 0) AS last_30,
           coalesce(sum(sessions) FILTER (WHERE day < {S}.anchor()::date - 30), 0) AS prev_60
    FROM customers_usagedaily GROUP BY customer_id
) u ON u.customer_id = c.id
"""

_ACTIVITY_INSERT = ("INSERT INTO customers_activityevent (customer_id, created_at, kind, action, source, actor_id, "
                    "summary, payload)")

ACTIVITY = (
    f"""{_ACTIVITY_INSERT}
SELECT c.id, c.registered_at, 'profile', 'customer.registered', 'system', NULL, 'Signed up via ' || sf.name,
       jsonb_build_object('storefront', sf.name)
FROM {S}.cust c JOIN {S}.storefront sf ON sf.id = c.storefront_id
""",
    f"""{_ACTIVITY_INSERT}
SELECT e.customer_id, e.at, 'subscription', e.action, 'system', NULL,
       CASE e.action
           WHEN 'subscription.started' THEN
               CASE WHEN e.had_trial THEN 'Started a ' || e.trial_days || '-day trial of ' || e.plan_name
                    ELSE 'Subscribed to ' || e.plan_name END
           WHEN 'subscription.paused' THEN 'Paused ' || e.plan_name
           WHEN 'subscription.suspended' THEN 'Suspended ' || e.plan_name || ' after failed payments'
           WHEN 'subscription.cancelled' THEN
               'Cancelled ' || e.plan_name
               || CASE WHEN e.cancel_at_period_end THEN ' at the end of the period' ELSE '' END
               || ': ' || e.cancellation_reason
           ELSE 'Expired ' || e.plan_name END,
       jsonb_build_object('subscription', {public_id('sub_', 'e.id', 2, _total('subscriptions'))},
                          'plan', e.plan_code)
FROM (
    SELECT s.*, v.action,
           CASE v.action WHEN 'subscription.started' THEN s.started_at
                         WHEN 'subscription.paused' THEN s.paused_at
                         WHEN 'subscription.suspended' THEN s.suspended_at
                         WHEN 'subscription.cancelled' THEN s.cancelled_at
                         WHEN 'subscription.expired' THEN CASE WHEN s.status = 'expired' THEN s.ended_at END
           END AS at
    FROM {S}.sub s
    CROSS JOIN (VALUES (1, 'subscription.started'), (2, 'subscription.paused'), (3, 'subscription.suspended'),
                       (4, 'subscription.cancelled'), (5, 'subscription.expired')) AS v(ord, action)
    OFFSET 0
) e
WHERE e.at <= {S}.anchor()
""",
    f"""{_ACTIVITY_INSERT}
SELECT p.customer_id, p.created_at, 'payment', 'payment.' || CASE p.status WHEN 'failed' THEN 'failed'
                                                                       WHEN 'pending' THEN 'pending'
                                                                       ELSE 'succeeded' END,
       'system', NULL,
       'Payment of ' || {S}.money(p.amount) || ' ' || p.currency || CASE p.status
           WHEN 'failed' THEN ' failed: ' || p.failure_message WHEN 'pending' THEN ' is processing'
           ELSE ' succeeded' END,
       jsonb_build_object('payment', p.public_id, 'amount', p.amount, 'currency', p.currency)
FROM ({_payments(f"greatest(0, s.periods - CASE s.months WHEN 1 THEN {RECENT_PERIODS} ELSE 1 END)",
                 f"s.current_period_end >= {S}.anchor() - interval '{RECENT_PAYMENT_EVENT_DAYS + 7} days'")}) p
WHERE p.created_at >= {S}.anchor() - interval '{RECENT_PAYMENT_EVENT_DAYS} days'
""",
    f"""{_ACTIVITY_INSERT}
SELECT p.customer_id, r.created_at, 'payment', 'payment.refunded', 'agent', r.created_by_id,
       'Refunded ' || {S}.money(r.amount) || ' ' || r.currency || ' of ' || p.public_id || ': ' || r.reason,
       jsonb_build_object('payment', p.public_id, 'refund', r.public_id, 'amount', r.amount, 'currency', r.currency)
FROM payments_refund r
CROSS JOIN LATERAL (SELECT customer_id, public_id FROM payments_payment WHERE id = r.payment_id OFFSET 0) p
WHERE r.status = 'succeeded'
""",
    f"""{_ACTIVITY_INSERT}
SELECT n.customer_id, n.created_at, 'support', 'note.added', 'agent', n.author_id, 'Note: ' || left(n.body, 200),
       jsonb_build_object('note', n.id)
FROM customers_note n
""",
    f"""{_ACTIVITY_INSERT}
SELECT t.customer_id, t.created_at, 'support', 'ticket.opened',
       CASE WHEN t.created_by_id IS NULL THEN 'system' ELSE 'agent' END, t.created_by_id,
       'Ticket ' || t.public_id || ' opened (' || t.priority || ' priority)', jsonb_build_object('ticket', t.public_id)
FROM support_ticket t
""",
    # Public replies and internal notes on tickets, as support.services writes them (the text stays on the ticket).
    f"""{_ACTIVITY_INSERT}
SELECT t.customer_id, m.created_at, 'support', CASE WHEN m.public THEN 'ticket.replied' ELSE 'ticket.note_added' END,
       'agent', m.author_id,
       CASE WHEN m.public THEN 'Reply emailed on ticket ' ELSE 'Internal note added on ticket ' END || t.public_id,
       jsonb_build_object('ticket', t.public_id, 'comment', m.id, 'kind', CASE WHEN m.public THEN 'reply' ELSE 'note' END)
FROM support_ticketcomment m
CROSS JOIN LATERAL (SELECT customer_id, public_id FROM support_ticket WHERE id = m.ticket_id OFFSET 0) t
WHERE NOT m.from_customer
""",
    f"""{_ACTIVITY_INSERT}
SELECT m.customer_id, m.created_at, 'support', 'email.queued',
       CASE WHEN m.created_by_id IS NULL THEN 'system' ELSE 'agent' END, m.created_by_id,
       'Email “' || t.name || '” queued', jsonb_build_object('email', m.public_id, 'template', t.code)
FROM support_emailmessage m JOIN support_emailtemplate t ON t.id = m.template_id
UNION ALL
SELECT m.customer_id, coalesce(m.sent_at, m.created_at + interval '1 minute'), 'support', 'email.' || m.status,
       'system', NULL,
       'Email “' || t.name || '” ' || CASE m.status WHEN 'sent' THEN 'sent' ELSE 'failed (see the Emails tab)' END,
       jsonb_build_object('email', m.public_id, 'template', t.code)
FROM support_emailmessage m JOIN support_emailtemplate t ON t.id = m.template_id
""",
    f"""{_ACTIVITY_INSERT}
SELECT c.id, {S}.anchor() - make_interval(days => 1 + {pick('c.id', 109, 30)}), 'privacy', 'customer.erased',
       'system', {S}.manager_id(), 'Personal data erased on request (approved by a manager)', '{{}}'::jsonb
FROM {S}.cust c
WHERE c.erased
""",
)

CUSTOMER_STORIES, SUBSCRIPTION_STORIES = "customer stories", "subscription stories"

LOADS = (
    Load("invoices", "payments_invoice", (INVOICES,), (SUBSCRIPTION_STORIES,), chunk_by="subscription"),
    Load("payments", "payments_payment", (PAYMENTS,), (SUBSCRIPTION_STORIES,), chunk_by="subscription"),
    Load("consents", "privacy_consent", (CONSENTS,), (CUSTOMER_STORIES,), chunk_by="customer"),
    Load("tickets", "support_ticket", (TICKETS,), (CUSTOMER_STORIES,)),
    Load("ticket comments", "support_ticketcomment", (TICKET_COMMENTS,), ("tickets",)),
    Load("escalations", "support_escalation", ESCALATIONS, ("tickets", "customers")),
    Load("notes", "customers_note", (NOTES,), (CUSTOMER_STORIES,)),
    Load("tags", "customers_customertag", (CUSTOMER_TAGS,), (CUSTOMER_STORIES,)),
    Load("payment methods", "payments_paymentmethod", (PAYMENT_METHODS,), (SUBSCRIPTION_STORIES,),
         chunk_by="customer"),
    Load("customers", "customers_customer", (CUSTOMERS,), (SUBSCRIPTION_STORIES,), chunk_by="customer"),
    Load("subscriptions", "subscriptions_subscription", (SUBSCRIPTIONS,), (SUBSCRIPTION_STORIES,),
         chunk_by="subscription"),
    Load("usage", "customers_usagedaily", (USAGE,), (SUBSCRIPTION_STORIES,), chunk_by="subscription"),
    Load("credit entries", "payments_creditentry", (CREDIT_ENTRIES,), (SUBSCRIPTION_STORIES,)),
    Load("refunds", "payments_refund", (REFUNDS,), ("payments",)),
    Load("metrics", "customers_customermetrics", (METRICS,), ("refunds", "usage")),
    Load("emails", "support_emailmessage", (EMAILS,), ("customers",)),
    Load("activity", "customers_activityevent", ACTIVITY,
         ("refunds", "notes", "tickets", "ticket comments", "emails")),
)
