"""What in a template context or a JSON shape carries a customer's personal data (see portal/access_log.py)."""

from customers.models import ActivityEvent, Customer, Note
from customers.selectors.directory import DirectoryPage
from customers.selectors.profile import Page, ProfileOverview
from portal.access_log import customers_in
from subscriptions.models import Subscription


@customers_in.register
def _customer(customer: Customer):
    return (customer.pk,)


@customers_in.register(Note)
@customers_in.register(ActivityEvent)
@customers_in.register(Subscription)
def _customer_row(row):
    return (row.customer_id,)


@customers_in.register
def _profile_header(overview: ProfileOverview):
    return (overview.customer.pk,)


@customers_in.register
def _profile_page(page: Page):
    """A page of a profile tab: payments, activity or notes."""
    return customers_in(page.rows)


@customers_in.register
def _directory_page(page: DirectoryPage):
    """Every customer listed: a row shows their name and email."""
    return (customer.pk for customer in page.rows)
