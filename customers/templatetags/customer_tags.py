"""What a customer's subscription is doing, as a marker beside their status: drawn the same way in the directory
rows (directory_tags) and the profile header, from the customer row's derived columns (no subscription read).

    trial      Trial, ends <date>
    grace      Grace, payment failing since <date> (access until <date> when the retry schedule is known)
    paused     Paused, resumes <date> / no resume date
    suspended  Suspended
Active, cancelled, expired and never-subscribed customers get no marker: their status says it all.
"""

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()

_CHIP = '<span class="status status-{state} state-marker">{label}</span>'
_DATE = '<time datetime="{iso}" data-local="date">{text}</time>'


def _date(moment) -> str:
    return format_html(_DATE, iso=moment.isoformat(), text=timezone.localtime(moment).strftime("%Y-%m-%d"))


def _parts(customer) -> tuple[str, str, str] | None:
    """(state, label, note HTML) or None."""
    state = customer.subscription_state
    if state == "trial":
        note = format_html("ends {}", _date(customer.trial_ends_at)) if customer.trial_ends_at else ""
        return state, "Trial", note
    if state == "grace":
        if customer.payment_failing_since is None:
            return state, "Grace", "payment failing"
        note = format_html("payment failing since {}", _date(customer.payment_failing_since))
        if (ends := customer.grace_ends_at) is not None:
            note = format_html("{}, access until {}", note, _date(ends))
        return state, "Grace", note
    if state == "paused":
        # A calendar day, not a moment: data-local="day" formats it without moving it into the agent's zone.
        note = (format_html('resumes <time datetime="{}" data-local="day">{}</time>', customer.resumes_on.isoformat(),
                            customer.resumes_on.isoformat()) if customer.resumes_on else "no resume date")
        return state, "Paused", note
    if state == "suspended":
        return state, "Suspended", ""
    return None


def subscription_marker_html(customer) -> str:
    parts = _parts(customer)
    if parts is None:
        return ""
    state, label, note = parts
    chip = format_html(_CHIP, state=state, label=label)
    if not note:
        return chip
    return format_html('{} <span class="state-note">{}</span>', chip, note)


@register.simple_tag
def subscription_marker(customer):
    """{% subscription_marker customer %}: the chip and its date, or nothing."""
    return mark_safe(subscription_marker_html(customer))
