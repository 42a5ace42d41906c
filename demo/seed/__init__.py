"""Deterministic, realistic demo data for `manage.py seed_demo`, loaded with set-based SQL.

Everything is a pure function of (seed, number of customers, anchor date): every random choice is a hash of a row
key and a salt (randomness.py), so the same arguments give the same names, emails, public ids, amounts and dates.

Modules, in the order a run uses them:
- names.py, places.py, catalog.py: the data the choices pick from (names per locale, countries, plans, texts);
- reference.py: storefronts, plans, tags and the demo users, through the ORM;
- lookups.py: those lists as small tables the SQL joins to;
- stories.py: one staging row per customer and per subscription: status, dates, billing periods, failures;
- loads.py: one INSERT ... SELECT per portal table, derived from the staging rows;
- ddl.py, pipeline.py, runner.py: taking indexes and foreign keys off for the load and putting them back,
  running the statements on one or two database sessions.

Rules the data follows (the tests in tests/test_seed_demo.py check them):
- Customer.status by the status rules; Customer.plan is the live subscription's plan. Customer.mrr is the plan's monthly
  price (a yearly price / 12, rounded down) while the live subscription is billing, i.e. active or in grace; trial
  and paused subscriptions bring no MRR (nothing is being charged), nor do scheduled cancellations stop it early.
  Customer.mrr_reporting is that MRR in the reporting currency (portal.money), and subscription_state with its
  date (trial end, failing since, resume date) follows the live or else latest subscription: the customer row is
  what customers.services.customer_refresh_derived_state would write.
- At most one live subscription per customer; every paid period has one invoice (one line; total = subtotal +
  tax) and one captured payment; Payment.amount_refunded is the sum of its succeeded refunds.
- Usage and the timeline keep a bounded history: see loads.py.
"""
