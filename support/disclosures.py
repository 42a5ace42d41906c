"""What in a template context or a JSON shape carries a customer's personal data (see portal/access_log.py)."""

from portal.access_log import customers_in
from support.escalation_selectors import EscalationPanel, EscalationQueue
from support.models import Escalation


@customers_in.register
def _escalation(escalation: Escalation):
    return (escalation.customer_id,)


@customers_in.register
def _panel(panel: EscalationPanel):
    return (panel.escalation.customer_id,)


@customers_in.register
def _queue(queue: EscalationQueue):
    """Every escalation listed: a panel shows the customer's name, payments and tickets."""
    return (panel.escalation.customer_id for panel in queue.panels)
