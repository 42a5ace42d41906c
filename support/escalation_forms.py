"""Input parsing for escalations: the page forms and the API bodies go through these."""

from __future__ import annotations

from django import forms

from portal.cursors import InvalidCursor
from support.escalation_selectors import STATUSES, decode_cursor
from support.escalations import NOTE_MAX_LENGTH
from support.models import Escalation, Ticket


class EscalateForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "Choose a reason…"), *Escalation.Reason.choices], label="Reason",
                               error_messages={"required": "Choose why this needs a manager."})
    note = forms.CharField(required=False, max_length=NOTE_MAX_LENGTH, label="Note for the manager",
                           widget=forms.Textarea(attrs={"rows": 3}))
    # A ticket of this customer (public id), or "" for the customer as a whole.
    ticket = forms.ChoiceField(required=False, label="About", choices=[("", "The customer as a whole")])

    def __init__(self, data=None, *, customer, **kwargs):
        super().__init__(data, **kwargs)
        self.customer = customer
        self.open_tickets = list(Ticket.objects.filter(customer=customer, status__in=Ticket.OPEN_STATUSES)
                                 .only("public_id", "subject", "status").order_by("-created_at", "-id")[:20])
        self.fields["ticket"].choices = [("", "The customer as a whole"),
                                         *((t.public_id, f"Ticket {t.public_id}: {t.subject}")
                                           for t in self.open_tickets)]

    def clean_ticket(self) -> Ticket | None:
        public_id = self.cleaned_data["ticket"]
        return next((t for t in self.open_tickets if t.public_id == public_id), None) if public_id else None


class ResolveForm(forms.Form):
    note = forms.CharField(max_length=NOTE_MAX_LENGTH, label="Resolution",
                           error_messages={"required": "Write what was decided before resolving."},
                           widget=forms.Textarea(attrs={"rows": 2}))


class QueueForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[(s, s) for s in STATUSES])
    cursor = forms.CharField(required=False, max_length=2000)

    def clean_status(self) -> str:
        return self.cleaned_data["status"] or Escalation.Status.OPEN

    def clean_cursor(self):
        value = self.cleaned_data["cursor"]
        if not value:
            return None
        try:
            return decode_cursor(value)
        except InvalidCursor as error:
            raise forms.ValidationError(error.message, code="invalid_cursor") from None
