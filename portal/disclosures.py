"""What in a template context or a JSON shape of the kernel carries a customer's personal data (see
portal/access_log.py): approval requests name their customer."""

from portal.access_log import customers_in
from portal.approval_selectors import ApprovalPage, ApprovalRow
from portal.models import Approval


@customers_in.register
def _approval(approval: Approval):
    return (approval.customer_id,) if approval.customer_id else ()


@customers_in.register
def _approval_row(row: ApprovalRow):
    return _approval(row.approval)


@customers_in.register
def _approval_page(page: ApprovalPage):
    """Every request listed with a customer: a row shows the customer's name."""
    return (row.approval.customer_id for row in page.rows if row.approval.customer_id)
