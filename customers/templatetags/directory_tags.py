"""The directory's result rows, drawn in Python.

A page of 25 to 100 rows has a dozen values per row; through template variables that is most of the page's
rendering time, so the rows are formatted here (escaped by format_html, as a template would) in one call.
"""

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from customers.templatetags.customer_tags import subscription_marker_html
from portal.templatetags.portal_tags import money

register = template.Library()

_ROW = ('<tr data-row-href="{url}">'
        '<td class="col-name"><a href="{url}">{name}</a><span class="row-id">{public_id}</span></td>'
        '<td class="col-email" title="{email}"><span class="cell-clip">{email}</span></td>'
        '<td class="col-status"><span class="status status-{status}">{status_label}</span>{marker}{escalated}</td>'
        '<td class="col-plan">{plan}</td>'
        '<td class="col-mrr{mrr_class}"{mrr_title}>{mrr}</td>'
        '<td class="col-since"><time datetime="{since_iso}" data-local="date">{since}</time></td>'
        '<td class="col-storefront">{storefront}</td></tr>')
_NO_PLAN = mark_safe('<span class="text-body-secondary">—</span>')
# Kept on the row by the escalation services (support/escalations.py): no join, no query.
_ESCALATED = ' <span class="escalation-marker" title="Escalated to a manager since {since}">Escalated</span>'
_NOT_BILLING = {"trial": mark_safe(' title="No MRR during the trial"'),
                "paused": mark_safe(' title="No MRR while paused"')}


@register.simple_tag
def directory_rows(customers):
    """One <tr> per customer (each carrying `profile_url`, `plan` and `storefront` from the lookups)."""
    return format_html_join("\n", "{}", ((_row(customer),) for customer in customers))


def _row(customer):
    return format_html(
        _ROW, url=customer.profile_url, name=customer.full_name, public_id=customer.public_id,
        email=customer.email, status=customer.status, status_label=customer.get_status_display(),
        marker=format_html(" {}", marker) if (marker := subscription_marker_html(customer)) else "",
        escalated=format_html(_ESCALATED, since=timezone.localtime(customer.escalated_at).strftime("%Y-%m-%d %H:%M"))
        if customer.escalated_at else "",
        plan=customer.plan.name if customer.plan else _NO_PLAN,
        mrr_class="" if customer.mrr else " text-body-secondary",
        mrr=money(customer.mrr, customer.currency),
        mrr_title=_NOT_BILLING.get(customer.subscription_state, "") if not customer.mrr else "",
        since_iso=customer.registered_at.isoformat(),
        since=timezone.localtime(customer.registered_at).strftime("%Y-%m-%d"),
        storefront=customer.storefront.name if customer.storefront else "")
