from django import template
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from portal.audit_display import describe
from portal.context import SOURCE_LABELS
from portal.money import format_money

register = template.Library()


@register.filter
def source_label(source: str) -> str:
    """Where a change came from, as the logs say it: "in the portal", "through the API", …"""
    return SOURCE_LABELS.get(source, source)


@register.filter
def money(amount, currency="USD"):
    """{{ payment.amount|money:payment.currency }} → $12.50"""
    if amount is None:
        return "—"
    return format_money(int(amount), currency or "USD")


@register.filter
def audit_described(event):
    """{% with line=event|audit_described %}: the event's object label and change rows (portal/audit_display.py)."""
    return describe(event)


@register.simple_tag
def select_options(field):
    """The <option> elements of a form field's select, the current value selected.

    Written here rather than as a template loop because list pages draw several selects on every request, and a
    template loop costs about ten times as much per option.
    """
    current = "" if field.value() is None else str(field.value())
    return format_html_join("", '<option value="{}"{}>{}</option>', (
        (value, mark_safe(" selected") if str(value) == current else "", label)
        for value, label in field.field.choices))


@register.simple_tag
def form_token() -> str:
    """A fresh one-time token for a form that must execute once however often it is submitted (payments/forms.py)."""
    import uuid

    return uuid.uuid4().hex
