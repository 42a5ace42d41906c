"""Input for the money actions: amounts are typed in the currency's major unit ("12.50") and cleaned to minor
units; every form carries a one-time token so that a double submit executes once (the service's `request_key`)."""

from __future__ import annotations

import re

from django import forms

from payments.models import CreditEntry, Refund
from payments.refunds import NOTE_MAX_LENGTH
from portal.money import InvalidAmount, parse_amount

_FORM_TOKEN = re.compile(r"^[A-Za-z0-9-]{16,64}$")


class AmountField(forms.CharField):
    """An amount of `currency` typed as text, cleaned to minor units."""

    def __init__(self, *, currency: str, **kwargs):
        self.currency = currency
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        try:
            amount = parse_amount(value, self.currency)
        except InvalidAmount as exc:
            raise forms.ValidationError(str(exc), code="invalid_amount") from None
        if amount <= 0:
            raise forms.ValidationError("Enter an amount above zero.", code="invalid_amount")
        return amount


class TokenForm(forms.Form):
    """A form submitted once: `form_token` (a UUID the page wrote) becomes the service's request_key."""

    form_token = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)

    def clean_form_token(self):
        token = self.cleaned_data["form_token"]
        if token and not _FORM_TOKEN.match(token):
            raise forms.ValidationError("This form is damaged; reload the page.")
        return token

    def request_key(self, user) -> str | None:
        token = self.cleaned_data.get("form_token")
        return f"form:{user.pk}:{token}" if token else None


class RefundForm(TokenForm):
    amount = AmountField(currency="USD", label="Amount to refund")
    reason = forms.ChoiceField(choices=[("", "Choose a reason…"), *Refund.Reason.choices], label="Reason")
    note = forms.CharField(required=False, max_length=NOTE_MAX_LENGTH, label="Note (optional)",
                           widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].currency = currency


class RefundPreviewForm(forms.Form):
    """The amount typed so far, for the dialog's live policy answer (blank or invalid: the button's answer)."""

    amount = forms.CharField(required=False, max_length=20)


class CreditForm(TokenForm):
    DIRECTIONS = [(CreditEntry.Kind.GRANT, "Add credit"), (CreditEntry.Kind.DEBIT, "Remove credit")]

    direction = forms.ChoiceField(choices=DIRECTIONS, initial=CreditEntry.Kind.GRANT, widget=forms.RadioSelect)
    amount = AmountField(currency="USD", label="Amount")
    reason = forms.CharField(max_length=CreditEntry._meta.get_field("reason").max_length, label="Reason",
                             help_text="Shown on the customer's credit ledger.")

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].currency = currency


class RetryForm(TokenForm):
    pass
