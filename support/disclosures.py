"""What in a template context or a JSON shape carries a customer's personal data (see portal/access_log.py)."""

from portal.access_log import customers_in
from support.escalation_selectors import EscalationPanel, EscalationQueue
from support.models import EmailMessage, Escalation, Ticket, TicketComment
from support.selectors import QueuePage, TicketRow


@customers_in.register(EmailMessage)
def _email(message: EmailMessage):
    """An email carries its address and the text written for the customer."""
    return (message.customer_id,)


@customers_in.register(Ticket)
def _ticket(ticket: Ticket):
    """A ticket carries what the customer asked, in their words."""
    return (ticket.customer_id,)


@customers_in.register(TicketComment)
def _comment(comment: TicketComment):
    return (comment.ticket.customer_id,)


@customers_in.register
def _ticket_row(row: TicketRow):
    return (row.ticket.customer_id,)


@customers_in.register
def _queue_page(page: QueuePage):
    """A page of the Tickets page: every row names its customer and the subject of their request."""
    return (row.ticket.customer_id for row in page.rows)


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
