"""The search rule: how the directory routes a term, by its shape, so every shape has an index to use.

    cus_ + 1 or more          customers.public_id, equal or prefix (btree)
    sub_ + 4 or more          subscriptions.public_id, equal or prefix (btree) → the owning customer
    a full email address      lower(email) (btree); when nobody has exactly that email, the substring search
    1–2 characters            prefix of lower(first_name), lower(last_name) or lower(email) (text_pattern_ops)
    anything else             search_text LIKE '%term%' (one lowercased column, one GIN trigram index)

The first line that fits wins. Terms are lowercased and their spaces collapsed first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from django.db.models import Q
from django.db.models.functions import Lower
from django.db.models.lookups import Exact, StartsWith

from subscriptions.models import Subscription

SHORT_TERM_LENGTH = 2  # up to this many characters a term is matched as a prefix (trigrams need three)
SUBSCRIPTION_PREFIX_MIN = 4  # characters after "sub_" before a partial subscription id is looked up

ID_BODY_LENGTH = 16
_ID_BODY = "[0-9a-z]"
CUSTOMER_ID_PREFIX = re.compile(rf"^cus_{_ID_BODY}{{1,{ID_BODY_LENGTH}}}$")
SUBSCRIPTION_ID_PREFIX = re.compile(rf"^sub_{_ID_BODY}{{{SUBSCRIPTION_PREFIX_MIN},{ID_BODY_LENGTH}}}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SearchKind(Enum):
    CUSTOMER_ID = "customer_id"
    SUBSCRIPTION_ID = "subscription_id"
    EMAIL = "email"
    PREFIX = "prefix"
    SUBSTRING = "substring"


@dataclass(frozen=True)
class Search:
    term: str  # lowercased, spaces collapsed
    kind: SearchKind

    @classmethod
    def parse(cls, raw: str) -> Search | None:
        term = " ".join(raw.split()).lower()
        if not term:
            return None
        if CUSTOMER_ID_PREFIX.match(term):
            return cls(term, SearchKind.CUSTOMER_ID)
        if SUBSCRIPTION_ID_PREFIX.match(term):
            return cls(term, SearchKind.SUBSCRIPTION_ID)
        if EMAIL.match(term):
            return cls(term, SearchKind.EMAIL)
        if len(term) <= SHORT_TERM_LENGTH:
            return cls(term, SearchKind.PREFIX)
        return cls(term, SearchKind.SUBSTRING)

    @property
    def is_identifier(self) -> bool:
        """A complete customer or subscription id."""
        return (self.kind in (SearchKind.CUSTOMER_ID, SearchKind.SUBSCRIPTION_ID)
                and len(self.term) == len("cus_") + ID_BODY_LENGTH)

    @property
    def names_one_customer(self) -> bool:
        """A complete id or email address: when it matches exactly one customer, their profile may open directly."""
        return self.is_identifier or self.kind is SearchKind.EMAIL

    @property
    def matches_few(self) -> bool:
        """Ids, id prefixes long enough to be nearly unique, and emails match a handful of customers at most."""
        return self.names_one_customer or self.kind is SearchKind.SUBSCRIPTION_ID

    def condition(self) -> Q:
        # Id prefixes use the ids' own btrees: in the trigram index "cus" is in every row, so it would not narrow.
        id_lookup = "public_id" if self.is_identifier else "public_id__startswith"
        if self.kind is SearchKind.CUSTOMER_ID:
            return Q(**{id_lookup: self.term})
        if self.kind is SearchKind.SUBSCRIPTION_ID:
            return Q(id__in=Subscription.objects.filter(**{id_lookup: self.term}).values("customer_id"))
        if self.kind is SearchKind.EMAIL:
            return Q(Exact(Lower("email"), self.term))
        if self.kind is SearchKind.PREFIX:
            # Three prefix btrees; Postgres combines them (BitmapOr), no trigram needed for one or two letters.
            return (Q(StartsWith(Lower("first_name"), self.term)) | Q(StartsWith(Lower("last_name"), self.term))
                    | Q(StartsWith(Lower("email"), self.term)))
        # `contains` compiles to LIKE '%term%' (wildcards in the term escaped) on the lowercased search_text, which
        # the GIN trigram index answers. Never icontains: its UPPER() hides the column from the index.
        return Q(search_text__contains=self.term)

    @property
    def columns(self) -> tuple[str, ...]:
        """The customer columns `condition()` reads."""
        return {SearchKind.CUSTOMER_ID: ("public_id",), SearchKind.SUBSCRIPTION_ID: (),
                SearchKind.EMAIL: ("email",), SearchKind.PREFIX: ("first_name", "last_name", "email"),
                SearchKind.SUBSTRING: ("search_text",)}[self.kind]

    def broadened(self) -> Search | None:
        """What to search when an exact email matches nobody: the same text as a substring."""
        if self.kind is SearchKind.EMAIL:
            return Search(self.term, SearchKind.SUBSTRING)
        return None
