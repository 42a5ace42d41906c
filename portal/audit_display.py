"""How the audit viewer names what a row is about: public ids and readable labels, never a database key.

Rows are append-only, so the viewer has to read every shape a row was ever written in: an object without a public
id (a note, an API token, a user changed in the admin) keeps its database key in `object_id` for investigations
in the database, but the page names it from the row itself ("Note on cus_… (312 characters)", "API token “ci”
of agent"). Early note rows also carried that key in `data["note"]`; the viewer leaves it out.

`describe(event)` needs nothing beyond the row and its customer (which the selector joins), so a page of events
costs no query per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from django.apps import apps
from django.utils.text import capfirst

from portal.ids import ALPHABET, BODY_LENGTH, PREFIXES
from portal.money import format_money

PUBLIC_ID = re.compile(rf"^({'|'.join(map(re.escape, PREFIXES.values()))})[{ALPHABET}]{{{BODY_LENGTH}}}$")

# Keys of `data` that hold another row's database key (written before rows named objects by label only).
_DATABASE_KEYS = {"note"}


@dataclass(frozen=True)
class Described:
    label: str  # what the row is about, for the Object column
    details: list[tuple[str, Any, Any]]  # (label, before or None, after) for the Change column


def is_public_id(value: object) -> bool:
    return isinstance(value, str) and PUBLIC_ID.match(value) is not None


def field_label(name: str) -> str:
    return capfirst(str(name).replace("_", " "))


def _model_label(object_type: str) -> str:
    try:
        return capfirst(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return field_label(object_type.rpartition(".")[2]) if object_type else ""


def _data_details(data: dict, *, skip: set[str] = frozenset(), shown: str = "") -> list[tuple[str, Any, Any]]:
    """The data payload as rows; a list of changed personal fields reads "Changed: First name, Email". A value
    that is the `shown` object label already (a refund's own id) is not repeated."""
    rows = []
    currency = data.get("currency")
    for key, value in data.items():
        if key in skip or key in _DATABASE_KEYS or (key == "currency" and isinstance(data.get("amount"), int)):
            continue
        if shown and value == shown:
            continue
        if key == "amount" and isinstance(value, int):  # minor units, with the currency beside it
            rows.append(("Amount", None, format_money(value, currency or "USD")))
        elif key == "fields" and isinstance(value, list):
            rows.append(("Changed", None, ", ".join(field_label(name) for name in value) or "nothing"))
        else:
            rows.append((field_label(key), None, value))
    return rows


def _note(event) -> Described:
    length = event.data.get("length")
    on = f" on {event.customer.public_id}" if event.customer is not None else ""
    size = f" ({length:,} characters)" if isinstance(length, int) else ""
    return Described(f"Note{on}{size}", _data_details(event.data, skip={"length"}))


def _api_token(event) -> Described:
    name, user, hint = event.data.get("name"), event.data.get("user"), event.data.get("hint")
    label = "API token" + (f" “{name}”" if name else "") + (f" ({hint}…)" if hint else "") + \
        (f" of {user}" if user else "")
    return Described(label, _data_details(event.data, skip={"name", "user", "hint"}))


_BY_TYPE: dict[str, Callable[[Any], Described]] = {
    "customers.note": _note,
    "portal.apitoken": _api_token,
}


def describe(event) -> Described:
    """The Object label and the Change rows of one audit event."""
    special = _BY_TYPE.get(event.object_type)
    if special is not None:
        return special(event)
    if event.after or event.before:
        keys = list(dict.fromkeys([*event.before.keys(), *event.after.keys()]))
        details = [(field_label(k), event.before.get(k, ""), event.after.get(k, "")) for k in keys]
        details += _data_details(event.data, skip={"label"}, shown=event.object_id)
    else:
        details = _data_details(event.data, skip={"label"}, shown=event.object_id)
    if event.customer is not None and event.object_id == event.customer.public_id:
        label = "Customer profile"  # its id is in the Customer column beside it
    elif is_public_id(event.object_id):
        label = event.object_id
    else:  # an object known by its database key only: its kind, and the label the row stored if any
        label = _model_label(event.object_type)
        if event.data.get("label"):
            label = f"{label} “{event.data['label']}”" if label else str(event.data["label"])
    return Described(label, details)
