"""Small lookup tables in the `seed_demo` schema that the generating SQL joins to (names, places, plans...).

Each list is numbered from 0 within its group, so SQL picks an entry with `pick(key, salt, count)`. Grouped tables
carry one integer `key` (group * 1000 + index, see `lookup_key`) so that every join is on a single column, which
the planner estimates correctly (multi-column join estimates collapse to one row and produce nested loops).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata

from demo.seed import catalog, names, places
from demo.seed.randomness import SCHEMA

LOCALE_CODES = tuple(places.LOCALES)
_POSTCODES_PER_CITY = 8
_POSTCODE_LETTERS = "ABDEHJLNPRSTUWXYZ"
_FOLD = str.maketrans({"ß": "ss", "ø": "o", "æ": "ae", "ł": "l", "đ": "d", "œ": "oe"})


def email_part(name: str) -> str:
    """Lower-case ASCII for an email address: accents folded, spaces and apostrophes dropped."""
    folded = unicodedata.normalize("NFKD", name.lower().translate(_FOLD)).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded if ch.isalnum() or ch == "-")


def lookup_key(*parts) -> int:
    key = 0
    for part in parts:
        key = key * 1000 + int(part)
    return key


def lookup_key_sql(*parts: str) -> str:
    """The same key in SQL, from SQL expressions."""
    key = "0::bigint"
    for part in parts:
        key = f"({key} * 1000 + {part})"
    return key


def _postcodes(city: str, template: str) -> list[str]:
    codes = []
    for n in range(_POSTCODES_PER_CITY):
        digest = hashlib.sha256(f"{city}|{n}".encode()).digest()
        out = []
        for i, ch in enumerate(template):
            if ch == "#":
                out.append(str(digest[i] % 10))
            elif ch == "@":
                out.append(_POSTCODE_LETTERS[digest[i] % len(_POSTCODE_LETTERS)])
            else:
                out.append(ch)
        codes.append("".join(out))
    return codes


def _tables(storefront_ids: dict[str, int], plan_ids: dict[str, int],
            tag_ids: dict[str, int]) -> dict[str, tuple[str, list[tuple]]]:
    """Table name -> (column definitions, rows)."""
    locale_index = {code: i for i, code in enumerate(LOCALE_CODES)}
    person_names, domains, streets, locales = [], [], [], []
    for li, code in enumerate(LOCALE_CODES):
        spec = places.LOCALES[code]
        lists = {
            ("first", True): names.FIRST_NAMES_FEMALE[code],
            ("first", False): names.FIRST_NAMES_MALE[code],
            ("last", True): names.LAST_NAMES_FEMALE.get(code, names.LAST_NAMES[code]),
            ("last", False): names.LAST_NAMES[code],
        }
        for (kind, female), values in lists.items():
            person_names += [(lookup_key(li, kind == "last", female, i), v, email_part(v))
                             for i, v in enumerate(values)]
        domains += [(lookup_key(li, i), d) for i, d in enumerate(spec.email_domains)]
        streets += [(lookup_key(li, i), s) for i, s in enumerate(spec.streets)]
        locales.append((li, code, *(len(lists[key]) for key in [("first", True), ("first", False), ("last", True),
                                                                  ("last", False)]),
                        len(spec.email_domains), len(spec.streets), spec.number_first, spec.unit_prefix))
    countries, cities, postcodes, phones = [], [], [], []
    for ci, country in enumerate(places.COUNTRIES):
        countries.append((ci, country.code, locale_index[country.locale], country.currency, country.vat_percent,
                          len(country.cities), len(country.phone_prefixes), country.phone_digits))
        for ti, (city, template) in enumerate(country.cities):
            cities.append((lookup_key(ci, ti), city))
            postcodes += [(lookup_key(ci, ti, i), code) for i, code in enumerate(_postcodes(city, template))]
        phones += [(lookup_key(ci, i), prefix) for i, prefix in enumerate(country.phone_prefixes)]
    storefronts = [(i, storefront_ids[s.code], s.name, s.kind, s.kind in ("web", "partner"),
                    s.kind if s.kind in ("app_store", "google_play") else "sandbox")
                   for i, s in enumerate(catalog.STOREFRONTS)]
    downgrades = {(p.currency, p.interval, p.tier.rank - 1): plan_ids[p.code] for p in catalog.PLANS}
    plans = [(plan_ids[p.code], p.code, p.name, p.currency, p.tier.rank, 1 if p.interval == "month" else 12,
              p.price, p.trial_days, downgrades.get((p.currency, p.interval, p.tier.rank)),
              json.dumps([{"description": p.name, "quantity": 1, "unit_amount": p.price, "amount": p.price}]))
             for p in catalog.PLANS]
    return {
        "locale": ("idx int, code text, n_first_f int, n_first_m int, n_last_f int, n_last_m int, n_domains int, "
                   "n_streets int, number_first bool, unit_prefix text", locales),
        "person_name": ("key bigint, name text, email_part text", person_names),
        "domain": ("key bigint, domain text", domains),
        "street": ("key bigint, street text", streets),
        "country": ("idx int, code text, locale_idx int, currency text, vat_percent int, n_cities int, "
                    "n_phone_prefixes int, phone_digits int", countries),
        "city": ("key bigint, city text", cities),
        "postcode": ("key bigint, code text", postcodes),
        "phone_prefix": ("key bigint, prefix text", phones),
        # refundable: the portal can refund its payments (app stores refund on their side)
        "storefront": ("idx int, id bigint, name text, kind text, refundable bool, gateway text", storefronts),
        "tag": ("idx int, id bigint", list(enumerate(tag_ids[name] for name in catalog.TAGS))),
        # downgrade_id: the plan one rank lower with the same currency and interval; lines: an invoice's lines
        "plan": ("id bigint, code text, name text, currency text, rank int, months int, price bigint, "
                 "trial_days int, downgrade_id bigint, lines jsonb", plans),
    }


def create_lookup_tables(cursor, storefront_ids: dict[str, int], plan_ids: dict[str, int],
                         tag_ids: dict[str, int]) -> None:
    for table, (columns, rows) in _tables(storefront_ids, plan_ids, tag_ids).items():
        definitions = [c.strip().split(" ") for c in columns.split(",")]
        unnest = ", ".join(f"%s::{sql_type}[]" for _, sql_type in definitions)
        names_sql = ", ".join(name for name, _ in definitions)
        cursor.execute(f"CREATE UNLOGGED TABLE {SCHEMA}.{table} AS SELECT * FROM unnest({unnest}) AS t({names_sql})",
                       [list(column) for column in zip(*rows)])
        cursor.execute(f"ANALYZE {SCHEMA}.{table}")
