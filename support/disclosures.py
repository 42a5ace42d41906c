"""What in a template context or a JSON shape carries a customer's personal data (see portal/access_log.py)."""

from portal.access_log import customers_in
from support.models import EmailMessage


@customers_in.register(EmailMessage)
def _email(message: EmailMessage):
    """An email carries its address and the text written for the customer."""
    return (message.customer_id,)
