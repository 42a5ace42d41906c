"""Reads behind the customer directory (the page and the API): search routing, keyset pages, a capped count.

One module per concern; start with search.py:
- search.py    the search rule: how a term is routed (customer id, subscription id, email, prefix, substring)
- ordering.py  the sorts (Sort, SortColumn, Branches) and the same order in raw SQL (SortSQL)
- paging.py    page sizes and the keyset cursor a page continues from
- lookups.py   DirectoryLookups: plans, storefronts, segments and regions, shared by a process's requests
- filling.py   directory_page(): walk or gather the rows of one page, and count the matches

Callers import from here; tests that tune the page-filling limits set them on filling.py.
"""

from customers.selectors.directory.filling import (
    COUNT_CAP,
    Conditions,
    DirectoryPage,
    ResultCount,
    count_matches,
    customer_named_by,
    directory_page,
)
from customers.selectors.directory.lookups import LOOKUPS_MAX_AGE, DirectoryLookups
from customers.selectors.directory.ordering import (
    DEFAULT_SORT,
    SORT_CHOICES,
    SORT_COLUMNS,
    Branches,
    Sort,
    SortColumn,
    SortSQL,
)
from customers.selectors.directory.paging import DEFAULT_PAGE_SIZE, PAGE_SIZES, Cursor
from customers.selectors.directory.search import Search, SearchKind
from portal.cursors import InvalidCursor

__all__ = [
    "COUNT_CAP", "DEFAULT_PAGE_SIZE", "DEFAULT_SORT", "LOOKUPS_MAX_AGE", "PAGE_SIZES", "SORT_CHOICES", "SORT_COLUMNS",
    "Branches", "Conditions", "Cursor", "DirectoryLookups", "DirectoryPage", "InvalidCursor", "ResultCount", "Search",
    "SearchKind", "Sort", "SortColumn", "SortSQL", "count_matches", "customer_named_by", "directory_page",
]
