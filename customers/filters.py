"""The customer directory's parameters: one django-filter FilterSet, shared by the page and the API.

The filters (status, plan, storefront, region, joined dates, segment, owner) become query conditions here; the search
term, sort, cursor and page size are validated by the same form and handed to customers/selectors/directory/,
which decides how to read the page (walk the sort index or gather the matches; see filling.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.choices import BaseChoiceIterator

from customers.models import Customer
from customers.selectors.directory import (
    DEFAULT_PAGE_SIZE,
    PAGE_SIZES,
    SORT_CHOICES,
    Conditions,
    DirectoryLookups,
    DirectoryPage,
    directory_page,
)
from portal.cursors import InvalidCursor
from portal.forms import DayField
from segments.models import SegmentMembership

NO_PLAN = "none"
OWNER_ME = "me"  # owner=me: the signed-in user's customers ("my customers")
FILTER_NAMES = ("status", "plan", "storefront", "region", "joined_after", "joined_before", "segment", "owner")
PARAMETER_NAMES = ("q", *FILTER_NAMES, "sort", "per_page", "cursor")
# The customer column each plain filter reads (the segment filter reads memberships).
FILTER_COLUMNS = {"status": "status", "plan": "plan_id", "storefront": "storefront_id", "region": "country",
                  "joined_after": "registered_at", "joined_before": "registered_at", "owner": "owner_id"}


class DirectoryForm(forms.Form):
    """The fields the selector reads; the FilterSet adds its filter fields to this form."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES, widget=forms.HiddenInput)
    per_page = forms.TypedChoiceField(required=False, coerce=int, empty_value=DEFAULT_PAGE_SIZE,
                                      choices=[(n, f"{n} per page") for n in PAGE_SIZES], label="Rows")
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)  # checked by its decoder

    def clean(self):
        data = super().clean()
        after, before = data.get("joined_after"), data.get("joined_before")
        if after and before and after > before:
            self.add_error("joined_before", "The end date is before the start date.")
        return data


class LookupChoices(BaseChoiceIterator):
    """Choices from the directory's lookup tables, read only when a value is checked or a select is drawn (the
    API and htmx requests draw none)."""

    def __init__(self, read):
        self.read = read

    def __iter__(self):
        yield from self.read()

    def __len__(self):
        return len(self.read())


def _day_start(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class DayFilter(django_filters.DateFilter):
    field_class = DayField  # far dates are a message, not an overflow in _day_start


class CustomerDirectoryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(label="Status", choices=Customer.Status.choices, empty_label="Any status")
    plan = django_filters.ChoiceFilter(label="Plan", empty_label="Any plan")
    storefront = django_filters.ChoiceFilter(label="Storefront", empty_label="Any storefront")
    region = django_filters.ChoiceFilter(label="Region", empty_label="Any region")
    joined_after = DayFilter(label="Joined from")
    joined_before = DayFilter(label="Joined until")
    segment = django_filters.ChoiceFilter(label="Segment", empty_label="Any segment")
    # "me" or a username; each becomes `owner_id = <id>`, walked through the (owner_id, <sort>) indexes.
    owner = django_filters.ChoiceFilter(label="Owner", empty_label="Any owner", error_messages={
        "invalid_choice": "Nobody who can own customers is called “%(value)s”; use “me” or an agent's username."})

    class Meta:
        model = Customer
        fields: list[str] = []
        form = DirectoryForm

    def __init__(self, data=None, *, lookups: DirectoryLookups, viewer=None, **kwargs):
        super().__init__(data, queryset=Customer.objects.all(), **kwargs)
        self.lookups = lookups
        self.viewer = viewer  # the signed-in user, for owner=me
        self.filters["plan"].extra["choices"] = LookupChoices(lambda: [
            *((plan.code, plan.name) for plan in lookups.plans), (NO_PLAN, "No plan")])
        self.filters["storefront"].extra["choices"] = LookupChoices(
            lambda: [(s.code, s.name) for s in lookups.storefronts])
        self.filters["region"].extra["choices"] = LookupChoices(lambda: lookups.regions)
        self.filters["segment"].extra["choices"] = LookupChoices(lambda: [(s.code, s.name) for s in lookups.segments])
        self.filters["owner"].extra["choices"] = LookupChoices(lambda: [
            *([(OWNER_ME, "My customers")] if viewer is not None else []),
            *((owner.username, owner.username) for owner in lookups.owners)])

    @property
    def active_filters(self) -> dict[str, object]:
        """The filters in use, by name (after validation)."""
        cleaned = getattr(self.form, "cleaned_data", {})
        return {name: cleaned[name] for name in FILTER_NAMES if cleaned.get(name) not in (None, "")}

    def conditions(self) -> Conditions:
        """The active filters as conditions. Codes in the URL become ids in SQL (`plan_id = 3`), so the planner
        sees a plain column condition it can pair with the (column, id) indexes."""
        active = self.active_filters
        indexed = []
        if "status" in active:
            indexed.append(Q(status=active["status"]))
        if "plan" in active:
            plan_code = active["plan"]
            indexed.append(Q(plan__isnull=True) if plan_code == NO_PLAN
                           else Q(plan_id=_id_of(self.lookups.plans, plan_code)))
        if "storefront" in active:
            indexed.append(Q(storefront_id=_id_of(self.lookups.storefronts, active["storefront"])))
        if "region" in active:
            indexed.append(Q(country=active["region"]))
        if "joined_after" in active:
            indexed.append(Q(registered_at__gte=_day_start(active["joined_after"])))
        if "joined_before" in active:  # inclusive: the whole of that day
            indexed.append(Q(registered_at__lt=_day_start(active["joined_before"] + timedelta(days=1))))
        if "owner" in active:
            indexed.append(Q(owner_id=self.owner_id(active["owner"])))
        scattered = []
        if "segment" in active:
            members = SegmentMembership.objects.filter(
                customer_id=OuterRef("pk"), segment_id=_id_of(self.lookups.segments, active["segment"]))
            scattered.append(Q(Exists(members)))
        columns = sorted({FILTER_COLUMNS[name] for name in active if name in FILTER_COLUMNS})
        return Conditions(tuple(indexed), tuple(scattered), indexed_columns=tuple(columns))

    def owner_id(self, value: str) -> int:
        if value == OWNER_ME:
            return self.viewer.pk
        return next(owner.id for owner in self.lookups.owners if owner.username == value)

    def filter_queryset(self, queryset):
        conditions = self.conditions()
        return queryset.filter(*conditions.all())


def _id_of(rows, code: str) -> int:
    return next(row.id for row in rows if row.code == code)


@dataclass
class DirectorySearch:
    """The outcome of reading the directory's parameters: the filter form and, when they are valid, a page."""

    filters: CustomerDirectoryFilter
    page: DirectoryPage | None = None
    notice: str = ""  # said above the results, e.g. that a stale page link was replaced by the first page

    @property
    def errors(self) -> list[str]:
        """One sentence per invalid parameter, naming it."""
        sentences = []
        for name, messages in self.filters.form.errors.items():
            label = self.filters.form.fields[name].label if name in self.filters.form.fields else None
            prefix = f"{label or name.replace('_', ' ').capitalize()}: " if name != "__all__" else ""
            sentences.extend(prefix + message for message in messages)
        return sentences


def find_customers(params, *, restart_on_bad_cursor: bool, per_page: int | None = None,
                   viewer=None) -> DirectorySearch:
    """Validate the directory parameters and read the page they ask for (the page, the header search's dropdown
    and the API share this).

    A page link that is not valid any more raises InvalidCursor, or with `restart_on_bad_cursor` gives the first
    page and a notice (people following an old link deserve results, API clients an error). `per_page` overrides
    the page size parameter (the dropdown shows the first few matches, fewer than any page size on offer).
    `viewer` is the signed-in user, whom `owner=me` means.
    """
    lookups = DirectoryLookups.current()
    filters = CustomerDirectoryFilter(params, lookups=lookups, viewer=viewer)
    if not filters.is_valid():
        return DirectorySearch(filters)
    data = filters.form.cleaned_data
    read = partial(directory_page, filters.conditions(), lookups=lookups, q=data["q"], sort=data["sort"],
                   per_page=per_page or data["per_page"])
    try:
        return DirectorySearch(filters, read(cursor=data["cursor"] or None))
    except InvalidCursor as error:
        if not restart_on_bad_cursor:
            raise
        return DirectorySearch(filters, read(cursor=None), notice=f"{error.message} Showing the first page.")
