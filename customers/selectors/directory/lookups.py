"""Directory lookups: the small tables behind the filters and the row labels (plans, storefronts, segments,
regions, and the users who can own customers).

They change rarely (an admin adds a plan), so one set is shared by the requests of a process for LOOKUPS_MAX_AGE
seconds, and dropped at once when this process saves a plan, storefront, segment, customer, user or group
(customers/apps.py connects the signals). Another process sees such a change within LOOKUPS_MAX_AGE.
"""

from __future__ import annotations

import time
from functools import cached_property

from babel import Locale
from django.db import connection

from customers.models import Customer, Storefront
from customers.selectors.directory.ordering import Branches, SortColumn
from customers.selectors.owners import OwnerChoice, assignable_owners
from segments.models import Segment
from subscriptions.models import Plan

LOOKUPS_MAX_AGE = 60.0


class DirectoryLookups:
    _shared: tuple[float, DirectoryLookups] | None = None

    @classmethod
    def current(cls) -> DirectoryLookups:
        """The process's shared lookups, read afresh when older than LOOKUPS_MAX_AGE or forgotten."""
        now = time.monotonic()
        shared = cls._shared
        if shared is None or now - shared[0] > LOOKUPS_MAX_AGE:
            shared = cls._shared = (now, cls())
        return shared[1]

    @classmethod
    def forget(cls, **_signal_arguments) -> None:
        cls._shared = None

    @cached_property
    def plans(self) -> list[Plan]:
        return list(Plan.objects.only("id", "code", "name").order_by("rank", "price", "name"))

    @cached_property
    def storefronts(self) -> list[Storefront]:
        return list(Storefront.objects.only("id", "code", "name").order_by("name"))

    @cached_property
    def segments(self) -> list[Segment]:
        order = list(Segment.Code.values)
        return sorted(Segment.objects.only("id", "code", "name"),
                      key=lambda s: order.index(s.code) if s.code in order else len(order))

    @cached_property
    def owners(self) -> list[OwnerChoice]:
        """Active users whose role lets them own customers, by username (the owner filter and select)."""
        return assignable_owners()

    @cached_property
    def regions(self) -> list[tuple[str, str]]:
        """(country code, English name) of the countries customers are in, without reading the table: a "loose
        index scan" over (country, id) that jumps from one country to the next, one index probe per country."""
        with connection.cursor() as cursor:
            cursor.execute("""
                WITH RECURSIVE present(country) AS (
                    (SELECT country FROM customers_customer ORDER BY country LIMIT 1)
                    UNION ALL
                    SELECT (SELECT c.country FROM customers_customer c WHERE c.country > p.country
                            ORDER BY c.country LIMIT 1)
                    FROM present p WHERE p.country IS NOT NULL
                )
                SELECT country FROM present WHERE country IS NOT NULL
            """)
            codes = [code for (code,) in cursor.fetchall()]
        names = Locale("en").territories
        return sorted(((code, names.get(code.upper(), code)) for code in codes), key=lambda pair: pair[1])

    def branch_values(self, column: SortColumn) -> list | None:
        """The values a branched sort walks, in order: plans by rank then price (no plan last), storefronts by
        name, or every status."""
        if column.branches is Branches.STATUS:
            return list(Customer.Status.values)
        if column.key == "plan":
            return [plan.id for plan in self.plans] + [None]
        if column.key == "storefront":
            return [storefront.id for storefront in self.storefronts]
        return None

    def label(self, customers: list[Customer]) -> None:
        """Attach plan and storefront from the lookups, so rows need no join and no query per row."""
        plans = {plan.id: plan for plan in self.plans}
        storefronts = {storefront.id: storefront for storefront in self.storefronts}
        for customer in customers:
            customer.plan = plans.get(customer.plan_id)
            customer.storefront = storefronts.get(customer.storefront_id)
