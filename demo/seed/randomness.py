"""Deterministic pseudo-randomness in SQL, and small SQL-building helpers.

Every random choice is a hash of (row key, salt) seeded with the run's seed: `hashint8extended(key, seed * 1000 +
salt)`. The helpers are created as `seed_demo.*` SQL functions with the seed and anchor baked in; Postgres inlines
one-line SQL functions whose parameters are used once, so they cost what the expression costs.

Public ids are `prefix + 16 characters of portal.ids.ALPHABET` and, like ULIDs, sort in creation order: the first 8
characters encode `key * step + jitter` (step = 2^40 / capacity, jitter < step, so distinct keys never collide and
the ids spread over the whole range), the last 8 are random. Rows are written in key order, so each public-id index
is built from presorted input, which matters with the database's libc collation (a random-order build of 20M ids
costs minutes). A lookup string of all 1,024 two-character pairs turns 10 bits into 2 characters. `public_id()`
writes the expression out as SQL text: a SQL function that uses a parameter several times is not inlined when the
argument is an expression, and a real SQL-function call costs ~25 us per row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

from portal.ids import ALPHABET, BODY_LENGTH

SCHEMA = "seed_demo"
_PAIRS = "".join(a + b for a in ALPHABET for b in ALPHABET)
assert BODY_LENGTH == 16 and len(ALPHABET) == 32


def _chunks(value: str) -> str:
    """SQL for the 8 characters that encode the low 40 bits of the SQL expression `value`."""
    return " || ".join(f"substring({SCHEMA}.pairs() from ((({value}) >> {shift}) & 1023)::int * 2 + 1 for 2)"
                       for shift in (30, 20, 10, 0))


def public_id(prefix: str, key: str, salt: int, capacity: str) -> str:
    """SQL for the public id of the row with unique integer key `key` (1..`capacity`), both SQL expressions."""
    step = f"({1 << 40} / (({capacity})::bigint + 1))"
    hashed = f"{SCHEMA}.h({key}, {salt})"
    ordered = f"(({key})::bigint * {step} + mod(({hashed} >> 40) & {(1 << 23) - 1}, {step}))"
    return f"'{prefix}' || encode({_chunks(ordered)} || {_chunks(hashed)}, 'escape')"


def helper_functions(seed: int, anchor: datetime, agent_id: int, manager_id: int) -> list[str]:
    """CREATE FUNCTION statements for the helpers every generating statement uses."""
    fn = f"CREATE FUNCTION {SCHEMA}.{{}} LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT {{}} $$"
    return [
        fn.format("h(k bigint, salt int) RETURNS bigint", f"hashint8extended(k, {seed * 1000} + salt)"),
        fn.format("u(k bigint, salt int) RETURNS float8", f"({SCHEMA}.h(k, salt) & 16777215)::float8 / 16777216"),
        fn.format("pick(k bigint, salt int, n int) RETURNS int",
                  f"(({SCHEMA}.h(k, salt) & 2147483647) % n)::int"),
        fn.format("pairs() RETURNS bytea", "'\\x" + _PAIRS.encode().hex() + "'::bytea"),
        fn.format("anchor() RETURNS timestamptz", f"'{anchor.isoformat()}'::timestamptz"),
        fn.format("anchor_epoch() RETURNS float8", f"{anchor.timestamp()}::float8"),
        fn.format("agent_id() RETURNS bigint", str(agent_id)),
        fn.format("manager_id() RETURNS bigint", str(manager_id)),
        fn.format("money(amount bigint) RETURNS text",
                  "(amount / 100)::text || '.' || lpad((amount % 100)::text, 2, '0')"),
    ]


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def text_array(values: Iterable[str]) -> str:
    return "ARRAY[" + ", ".join(quote(v) for v in values) + "]::text[]"


def u(key: str, salt: int) -> str:
    """SQL for a uniform draw in [0, 1) from the hash of `key` (an SQL expression) and `salt`."""
    return f"{SCHEMA}.u({key}, {salt})"


def pick(key: str, salt: int, n: int | str) -> str:
    """SQL for an integer in [0, n) from the hash of `key` and `salt`."""
    return f"{SCHEMA}.pick({key}, {salt}, {n})"


def choice(values: Sequence[str], key: str, salt: int) -> str:
    """SQL for one of `values` (Python strings), picked by the hash of `key`."""
    return f"({text_array(values)})[1 + {pick(key, salt, len(values))}]"


def weighted(draw: str, options: Sequence[tuple[str, float]]) -> str:
    """A CASE expression that maps a uniform draw in [0, 1) to one of `options` (SQL value, relative weight)."""
    total = float(sum(weight for _, weight in options))
    branches, cumulative = [], 0.0
    for value, weight in options[:-1]:
        cumulative += weight / total
        branches.append(f"WHEN {draw} < {cumulative:.6f} THEN {value}")
    return f"CASE {' '.join(branches)} ELSE {options[-1][0]} END"
