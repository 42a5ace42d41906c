"""Plan every customer's story in two staging tables: `seed_demo.cust` (one row per customer) and `seed_demo.sub`
(one row per subscription). Every later statement derives its rows from these with arithmetic only.

The story of a customer, all relative to the anchor A (00:00 UTC of --today):
- registered T days before A; after a short delay the rest of their life is split into k equal slots, and
  subscription j lives inside slot j (so subscriptions never overlap and only the last one can be live);
- earlier subscriptions ended: cancelled, or expired after a failed renewal (suspended after the last dunning
  retry, expired 14 days later);
- the last subscription's status is drawn (trial, active, grace, paused, suspended, cancelled, expired) and its
  dates are aligned with A: grace means the renewal failed within the dunning window, suspended after it;
- billing periods follow calendar months (or years) from the first billing date; a period's invoice is paid by
  one charge, by a soft-declined charge plus a successful retry (every m-th period), or, in the last period of a
  failing subscription, not at all (retries on settings.PORTAL["DUNNING_RETRY_DAYS"]; a hard decline is not
  retried).
Everything is closed-form per row, so invoice and payment ids are cumulative sums over subscriptions, known before
any row is written.

Customers 1-16 are a fixed showcase so that even a tiny data set has every status: 1-14 have two subscriptions
whose last one takes each subscription status in turn (2 has a pending renewal; the first payment of each is
refunded, fully for odd numbers, partly for even ones), 15 never subscribed, 16 is erased.
"""

from __future__ import annotations

from django.conf import settings

from demo.seed import catalog, places
from demo.seed.lookups import lookup_key_sql as key
from demo.seed.randomness import SCHEMA, choice, pick, text_array, u, weighted

S = SCHEMA
SUBSCRIPTION_STATUSES = ("trial", "active", "grace", "paused", "suspended", "cancelled", "expired")
SHOWCASE_LAST = 16
MIN_SLOT_DAYS = 70  # a subscription slot is at least this long, which bounds k for young customers
# Days after the start of a period on which its charge is attempted: the renewal, then the dunning retries.
ATTEMPT_DAYS = (0, *settings.PORTAL["DUNNING_RETRY_DAYS"])
SUSPEND_AFTER_DAYS = ATTEMPT_DAYS[-1]  # the last retry failed
EXPIRE_AFTER_SUSPENDED_DAYS = settings.PORTAL["EXPIRE_AFTER_SUSPENDED_DAYS"]

LAST_STATUS_WEIGHTS = (("'trial'", 4), ("'active'", 50), ("'grace'", 3), ("'paused'", 3), ("'suspended'", 2),
                       ("'cancelled'", 28), ("'expired'", 8))
SUBSCRIPTIONS_PER_CUSTOMER = (("0", 6), ("1", 12), ("2", 18), ("3", 22), ("4", 22), ("5", 20))


def _months_between(later: str, earlier: str) -> str:
    """Whole calendar months from `earlier` to `later` (timestamptz expressions)."""
    return (f"(date_part('year', age({later}, {earlier})) * 12 "
            f"+ date_part('month', age({later}, {earlier})))::int")


_COUNTRY = weighted("u_country", [(str(i), country.weight) for i, country in enumerate(places.COUNTRIES)])
_STOREFRONT = weighted("u_storefront", [(str(i), sf.weight) for i, sf in enumerate(catalog.STOREFRONTS)])

# Each CTE ends with OFFSET 0, which keeps Postgres from inlining it into the next one: every column is computed
# once per row instead of once per reference.
CUSTOMERS = f"""
CREATE UNLOGGED TABLE {S}.cust AS
WITH draws AS (
    SELECT c AS id, {u('c', 1)} AS u_country, {u('c', 2)} < 0.5 AS female, {u('c', 5)} AS u_young,
           {u('c', 6)} AS u_age, {u('c', 7)} AS u_delay, {u('c', 8)} AS u_k, {u('c', 9)} AS u_erase,
           {u('c', 10)} AS u_storefront, {u('c', 11)} AS u_email, {u('c', 19)} AS u_unit, {u('c', 20)} AS u_status
    FROM generate_series(1, %(customers)s) AS c
    OFFSET 0
), aged AS (
    SELECT d.*, {_COUNTRY} AS country_idx,
           CASE WHEN id <= {SHOWCASE_LAST} THEN 0 ELSE {_STOREFRONT} END AS storefront_idx,
           {weighted('u_email', [('0', 70), ('1', 15), ('2', 15)])} AS email_style,
           CASE WHEN id <= {SHOWCASE_LAST} THEN 400 + 25 * id
                WHEN u_young < 0.05 THEN 30 * u_age
                ELSE 30 + 1800 * power(u_age, 0.95) END AS t_days
    FROM draws d
    OFFSET 0
), sized AS (
    SELECT a.*, t_days - least(t_days * 0.1, 14 * u_delay) AS w_days,
           CASE WHEN id <= 14 THEN 2 WHEN id = 15 THEN 0 WHEN id = 16 THEN 1
                ELSE least({weighted('u_k', SUBSCRIPTIONS_PER_CUSTOMER)},
                           greatest(1, floor(t_days * 0.9 / {MIN_SLOT_DAYS}))::int) END AS k
    FROM aged a
    OFFSET 0
), storied AS (
    SELECT z.*,
           CASE WHEN k = 0 THEN NULL
                WHEN id <= 14 THEN ({text_array(SUBSCRIPTION_STATUSES)})[mod(id - 1, 7) + 1]
                WHEN id = 16 THEN 'cancelled'
                WHEN w_days < {MIN_SLOT_DAYS} THEN CASE WHEN u_status < 0.3 THEN 'trial' ELSE 'active' END
                ELSE {weighted('u_status', LAST_STATUS_WEIGHTS)} END AS last_status
    FROM sized z
    OFFSET 0
), placed AS (
    SELECT t.*, co.code AS country, co.currency, co.vat_percent, co.phone_digits, lo.number_first, lo.unit_prefix,
           lo.idx AS locale_idx, co.idx AS co_idx,
           {pick('id', 3, 'CASE WHEN female THEN lo.n_first_f ELSE lo.n_first_m END')} AS first_idx,
           {pick('id', 4, 'CASE WHEN female THEN lo.n_last_f ELSE lo.n_last_m END')} AS last_idx,
           {pick('id', 12, 'lo.n_domains')} AS domain_idx, {pick('id', 15, 'lo.n_streets')} AS street_idx,
           {pick('id', 13, 'co.n_cities')} AS city_idx, {pick('id', 14, '8')} AS postcode_idx,
           {pick('id', 16, 'co.n_phone_prefixes')} AS phone_idx,
           {pick('id', 17, '(10 ^ co.phone_digits)::int')} AS phone_number, 1 + {pick('id', 18, '180')} AS house,
           1 + {pick('id', 24, '40')} AS unit
    FROM storied t
    JOIN {S}.country co ON co.idx = t.country_idx
    JOIN {S}.locale lo ON lo.idx = co.locale_idx
    OFFSET 0
), named AS (
    SELECT p.id, p.country, p.currency, p.vat_percent,
           sf.id AS storefront_id, sf.kind AS storefront_kind, sf.refundable, sf.gateway,
           fn.name AS first_name, ln.name AS last_name,
           CASE p.email_style WHEN 0 THEN fn.email_part || '.' || ln.email_part
                              WHEN 1 THEN left(fn.email_part, 1) || ln.email_part
                              ELSE fn.email_part || ln.email_part END AS email_local,
           dm.domain,
           pp.prefix || lpad(p.phone_number::text, p.phone_digits, '0') AS phone,
           CASE WHEN p.number_first THEN p.house::text || ' ' || st.street
                ELSE st.street || ' ' || p.house::text END AS address_line1,
           CASE WHEN p.u_unit < 0.12 THEN p.unit_prefix || p.unit::text ELSE '' END AS address_line2,
           ci.city, pc.code AS postal_code,
           to_timestamp({S}.anchor_epoch() - p.t_days * 86400) AS registered_at,
           {S}.anchor_epoch() - p.w_days * 86400 AS life_start,
           p.w_days * 86400 / greatest(p.k, 1) AS slot_len,
           p.k, p.last_status,
           p.id = 16 OR (p.id > {SHOWCASE_LAST} AND (p.k = 0 OR p.last_status IN ('cancelled', 'expired'))
                         AND p.u_erase < 0.002) AS erased
    FROM placed p
    JOIN {S}.storefront sf ON sf.idx = p.storefront_idx
    JOIN {S}.person_name fn ON fn.key = {key('p.locale_idx', '0', 'p.female::int', 'p.first_idx')}
    JOIN {S}.person_name ln ON ln.key = {key('p.locale_idx', '1', 'p.female::int', 'p.last_idx')}
    JOIN {S}.domain dm ON dm.key = {key('p.locale_idx', 'p.domain_idx')}
    JOIN {S}.street st ON st.key = {key('p.locale_idx', 'p.street_idx')}
    JOIN {S}.city ci ON ci.key = {key('p.co_idx', 'p.city_idx')}
    JOIN {S}.postcode pc ON pc.key = {key('p.co_idx', 'p.city_idx', 'p.postcode_idx')}
    JOIN {S}.phone_prefix pp ON pp.key = {key('p.co_idx', 'p.phone_idx')}
)
SELECT n.*,
       row_number() OVER (PARTITION BY n.email_local, n.domain ORDER BY n.id) AS email_rank,
       sum(n.k) OVER (ORDER BY n.id) - n.k AS sub_base
FROM named n
ORDER BY n.id
"""

_TIER = weighted(u("d.id", 32), [(str(t.rank), t.weight) for t in catalog.TIERS])
_ALIGNED = "('active', 'grace', 'suspended')"
_FAILING = "('grace', 'suspended', 'expired')"
_DAY = 86400

SUBSCRIPTIONS = f"""
CREATE UNLOGGED TABLE {S}.sub AS
WITH base AS (
    SELECT c.sub_base + j AS id, c.id AS customer_id, j AS seq, j = c.k AS is_last, c.erased, c.currency,
           c.vat_percent, c.refundable, c.gateway, c.storefront_kind, c.last_status, c.slot_len,
           c.life_start + (j - 1) * c.slot_len AS slot_start, {S}.anchor_epoch() AS a_epoch
    FROM {S}.cust c
    CROSS JOIN LATERAL generate_series(1, c.k) AS j
    OFFSET 0
), drawn AS (
    -- a: when the subscription starts in its slot (before any alignment with A)
    SELECT b.*, b.slot_start + 0.15 * b.slot_len * {u('id', 30)} AS a,
           CASE WHEN is_last THEN last_status WHEN {u('id', 31)} < 0.85 THEN 'cancelled' ELSE 'expired' END
               AS status,
           8 + {pick('id', 48, '16')} AS retry_m
    FROM base b
    OFFSET 0
), planned AS (
    SELECT d.*, p.id AS plan_id, p.code AS plan_code, p.name AS plan_name, p.months, p.price, p.trial_days,
           CASE WHEN d.status = 'active' AND {u('d.id', 43)} < 0.04 THEN p.downgrade_id END AS scheduled_plan_id,
           p.trial_days > 0 AND (d.status = 'trial' OR (d.seq = 1 AND {u('d.id', 34)} < 0.6
               AND d.a + (p.trial_days + 21) * {_DAY} < d.a_epoch)) AS had_trial
    FROM drawn d
    JOIN {S}.plan p ON p.currency = d.currency AND p.rank = {_TIER}
        AND p.months = CASE WHEN d.status = 'trial' OR {u('d.id', 33)} < 0.85 THEN 1 ELSE 12 END
    OFFSET 0
), limited AS (
    -- tb: first billing moment (after the trial); end_limit: latest end of an ended subscription
    SELECT p.*, a + CASE WHEN had_trial THEN trial_days * {_DAY} ELSE 0 END AS tb,
           CASE WHEN is_last THEN a_epoch - 30 * {_DAY} ELSE slot_start + 0.8 * slot_len END AS end_limit,
           CASE WHEN is_last THEN a_epoch ELSE slot_start + slot_len END AS slot_end
    FROM planned p
    OFFSET 0
), targeted AS (
    -- dd: days from the start of the current period to A, for statuses aligned with A;
    -- until: when an ended or paused subscription stopped billing
    SELECT l.*,
           least(CASE status WHEN 'grace' THEN {SUSPEND_AFTER_DAYS} * {u('id', 35)}
                             WHEN 'suspended' THEN {SUSPEND_AFTER_DAYS} + {EXPIRE_AFTER_SUSPENDED_DAYS} * {u('id', 35)}
                             WHEN 'active' THEN CASE WHEN customer_id = 2 THEN 0.5
                                                     ELSE {u('id', 35)} * CASE months WHEN 1 THEN 20 ELSE 330 END END
                 END, (a_epoch - tb) / {_DAY}) AS dd,
           CASE status WHEN 'paused' THEN greatest(tb, a_epoch - 90 * {_DAY} * {u('id', 36)})
                       WHEN 'cancelled' THEN a + (0.5 + 0.5 * {u('id', 36)}) * (end_limit - a)
                       WHEN 'expired' THEN greatest(a + (0.5 + 0.5 * {u('id', 36)}) * (end_limit - a), tb + 3600)
           END AS until
    FROM limited l
    OFFSET 0
), spanned AS (
    SELECT t.*, to_timestamp(t.tb) AS tb_ts, to_timestamp(t.a_epoch - t.dd * {_DAY}) AS cps_target
    FROM targeted t
    OFFSET 0
), counted AS (
    SELECT s.*,
           CASE WHEN status IN {_ALIGNED} THEN {_months_between('cps_target', 'tb_ts')} / months * months
           END AS aligned_months,
           CASE WHEN status IN ('paused', 'cancelled', 'expired') AND until >= tb
               THEN {_months_between('to_timestamp(until)', 'tb_ts')} / months + 1 ELSE 0 END AS ended_periods
    FROM spanned s
    OFFSET 0
), billed AS (
    SELECT c.*,
           CASE WHEN status = 'trial' THEN NULL
                WHEN status IN {_ALIGNED} THEN cps_target - make_interval(months => aligned_months)
                ELSE tb_ts END AS billing_start,
           CASE WHEN status = 'trial' THEN 0
                WHEN status IN {_ALIGNED} THEN aligned_months / months + 1
                ELSE ended_periods END AS periods
    FROM counted c
    OFFSET 0
), dated AS (
    SELECT b.*,
           CASE WHEN status = 'trial'
                    THEN to_timestamp(greatest(a, a_epoch - (0.05 + 0.9 * {u('id', 37)}) * trial_days * {_DAY}))
                WHEN status IN {_ALIGNED} AND had_trial THEN billing_start - make_interval(days => trial_days)
                WHEN status IN {_ALIGNED} THEN billing_start
                ELSE to_timestamp(a) END AS started_at,
           status IN {_FAILING} AS failing,
           status IN {_FAILING} AND {u('id', 41)} < 0.25 AS hard,
           status = 'active' AND (customer_id = 2 OR (dd < 1.5 AND {u('id', 40)} < 0.5)) AS pending
    FROM billed b
    OFFSET 0
), periods AS (
    SELECT d.*,
           CASE WHEN periods > 0 THEN billing_start + make_interval(months => (periods - 1) * months)
                ELSE started_at END AS cps,
           CASE WHEN periods > 0 THEN billing_start + make_interval(months => periods * months)
                ELSE started_at + make_interval(days => trial_days) END AS cpe,
           CASE WHEN NOT failing THEN 0 WHEN hard THEN 1
                WHEN status = 'grace' THEN {" + ".join(f"(dd >= {day})::int" for day in ATTEMPT_DAYS)}
                ELSE {len(ATTEMPT_DAYS)} END AS final_attempts,
           -- periods whose invoice was paid; all but the last of them may have needed a retry
           periods - (failing OR pending)::int AS paid_periods,
           greatest(periods - (failing OR pending)::int - 1, 0) AS retry_periods,
           {pick('id', 42, 'retry_m')} AS retry_r
    FROM dated d
    OFFSET 0
), ended AS (
    SELECT p.*,
           periods > 0 AND {u('id', 38)} < 0.55 AND cpe <= to_timestamp(slot_end) AS at_period_end,
           status = 'active' AND {u('id', 39)} < 0.05 AS scheduled_cancel,
           CASE WHEN retry_periods > retry_r THEN (retry_periods - 1 - retry_r) / retry_m + 1 ELSE 0 END
               AS retried_periods,
           CASE WHEN is_last AND NOT erased AND {u('id', 49)} < 0.05
                THEN (ARRAY[300, 500, 700])[1 + {pick('id', 50, '3')}] ELSE 0 END AS credit_amount
    FROM periods p
    OFFSET 0
), final AS (
    SELECT e.id, e.customer_id, e.seq, e.is_last, e.erased, e.currency, e.refundable, e.gateway,
           e.storefront_kind, e.status, e.plan_id, e.plan_code, e.plan_name, e.months, e.price,
           (e.price * e.vat_percent + 50) / 100 AS tax, e.had_trial, e.trial_days, e.started_at,
           CASE WHEN e.had_trial THEN e.started_at + make_interval(days => e.trial_days) END AS trial_end,
           e.billing_start, e.periods, e.cps AS current_period_start, e.cpe AS current_period_end,
           CASE WHEN e.status = 'cancelled' THEN to_timestamp(e.until)
                WHEN e.scheduled_cancel THEN e.cps + (to_timestamp(e.a_epoch) - e.cps) * {u('e.id', 44)}
           END AS cancelled_at,
           (e.status = 'cancelled' AND e.at_period_end) OR e.scheduled_cancel AS cancel_at_period_end,
           CASE WHEN e.status = 'cancelled' AND e.at_period_end THEN e.cpe
                WHEN e.status = 'cancelled' THEN to_timestamp(e.until)
                WHEN e.status = 'expired'
                    THEN e.cps + make_interval(days => {SUSPEND_AFTER_DAYS + EXPIRE_AFTER_SUSPENDED_DAYS})
           END AS ended_at,
           CASE WHEN e.status IN ('suspended', 'expired')
               THEN e.cps + make_interval(days => {SUSPEND_AFTER_DAYS}) END AS suspended_at,
           CASE WHEN e.status = 'paused' THEN to_timestamp(e.until) END AS paused_at,
           CASE WHEN e.status = 'paused' AND {u('e.id', 45)} < 0.5
               THEN (to_timestamp(e.a_epoch) + make_interval(days => 7 + {pick('e.id', 46, '53')}))::date
           END AS resume_on,
           CASE WHEN e.status = 'cancelled' OR e.scheduled_cancel
               THEN {choice(catalog.CANCELLATION_REASONS, 'e.id', 51)} ELSE '' END
               AS cancellation_reason,
           e.scheduled_plan_id, e.failing, e.hard, e.final_attempts, e.pending,
           e.retry_m, e.retry_r, e.paid_periods, e.retry_periods, CASE WHEN {u('e.id', 47)} < 0.6 THEN 1 ELSE 3 END
               AS retry_gap_days,
           e.credit_amount,
           CASE WHEN e.credit_amount > 0 AND e.paid_periods >= 2 THEN e.paid_periods - 1 ELSE -1 END
               AS credit_period,
           least(e.credit_amount, e.price + (e.price * e.vat_percent + 50) / 100 - 100) AS credit_applied,
           e.periods + e.retried_periods + greatest(e.final_attempts - 1, 0) AS payment_rows
    FROM ended e
)
SELECT f.*,
       sum(f.periods) OVER w - f.periods AS invoice_base,
       sum(f.payment_rows) OVER w - f.payment_rows AS payment_base
FROM final f
WINDOW w AS (ORDER BY f.id)
"""

# Row counts the public ids are spread over (see randomness.public_id).
TOTALS = f"""
CREATE UNLOGGED TABLE {S}.totals AS
SELECT (SELECT count(*) FROM {S}.cust) AS customers, count(*) AS subscriptions, coalesce(sum(periods), 0) AS invoices,
       coalesce(sum(payment_rows), 0) AS payments
FROM {S}.sub
"""
