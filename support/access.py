"""Load helpers for tickets: the view's one capability declaration (portal/access.py) has already answered 403;
these answer 404 for an unknown id."""

from __future__ import annotations

from django.http import Http404

from portal.access import granted
from support.models import Ticket
from support.selectors import ticket_by_public_id


def access_ticket(request, public_id: str) -> Ticket:
    """The ticket with this public id, its customer, assignee, payment and timeline event joined (404: none)."""
    granted(request)
    ticket = ticket_by_public_id(public_id)
    if ticket is None:
        raise Http404("No ticket has this id.")
    return ticket
