from django import template
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst

from portal.money import format_money

register = template.Library()


@register.filter
def money(amount, currency="USD"):
    """{{ payment.amount|money:payment.currency }} → $12.50"""
    if amount is None:
        return "—"
    return format_money(int(amount), currency or "USD")


def _field_label(name: str) -> str:
    return capfirst(str(name).replace("_", " "))


@register.filter
def audit_changes(event):
    """(label, before, after) rows for an audit event: its before/after pairs (non-personal values such as a
    status), else its data payload, where the names of changed personal fields read "Changed: First name, Email"."""
    if event.after or event.before:
        keys = list(dict.fromkeys([*event.before.keys(), *event.after.keys()]))
        return [(k, event.before.get(k, ""), event.after.get(k, "")) for k in keys]
    return [("Changed", None, ", ".join(_field_label(name) for name in value)) if key == "fields"
            and isinstance(value, list) else (key, None, value) for key, value in event.data.items()]


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
