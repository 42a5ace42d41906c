from django import template

from portal.money import format_money

register = template.Library()


@register.filter
def money(amount, currency="USD"):
    """{{ payment.amount|money:payment.currency }} → $12.50"""
    if amount is None:
        return "—"
    return format_money(int(amount), currency or "USD")


@register.filter
def audit_changes(event):
    """(field, before, after) rows for an audit event; falls back to its data payload."""
    if event.after or event.before:
        keys = list(dict.fromkeys([*event.before.keys(), *event.after.keys()]))
        return [(k, event.before.get(k, ""), event.after.get(k, "")) for k in keys]
    return [(k, None, v) for k, v in event.data.items()]
