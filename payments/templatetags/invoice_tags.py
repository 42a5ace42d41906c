"""Dates on invoices: one format ("1 June 2025") in two places.

On the page a date is a `<time data-local>` that portal.js rewrites in the agent's own time zone, like every other
page. On the PDF it is the invoice's own date as stored (UTC), never shifted by the server's TIME_ZONE setting:
the date printed on a document must not depend on where it was rendered.
"""

from datetime import timezone as dt_timezone

from django import template
from django.utils import dateformat
from django.utils.html import format_html

register = template.Library()

DATE_FORMAT = "j F Y"


def _utc(value):
    return value.astimezone(dt_timezone.utc)


@register.simple_tag(takes_context=True)
def invoice_date(context, value, with_time=False):
    """{% invoice_date invoice.issued_at %}; `with_time=True` adds the time of day on the page (payments)."""
    if value is None:
        return "—"
    utc = _utc(value)
    if context.get("printed"):
        return dateformat.format(utc, DATE_FORMAT)
    fallback = dateformat.format(utc, DATE_FORMAT + (", H:i \\U\\T\\C" if with_time else ""))
    return format_html('<time data-local="{}" datetime="{}">{}</time>', "" if with_time else "date",
                       utc.isoformat(), fallback)
