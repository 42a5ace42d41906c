"""Input for the money actions: amounts are typed in the currency's major unit ("12.50") and cleaned to minor
units; every form carries a one-time token so that a double submit executes once (the service's `request_key`).
Below them, the card-update link's forms: the agent's send step, and the card forms of the customer's page (one per
gateway: the sandbox takes the card itself, Stripe only the confirmed SetupIntent)."""

from __future__ import annotations

import re

from django import forms
from django.core.validators import RegexValidator

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


# ---- Card-update links -----------------------------------------------------------------------------------------

_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/?\s*(\d{2}|\d{4})\s*$")


class CardLinkSendForm(TokenForm):
    """The confirm step: its token was written when the dialog was shown, so a double submit sends one link."""


class SandboxCardForm(forms.Form):
    """The card itself (the sandbox gateway stores it). Only its shape is checked here; whether the number, date
    and code are a card's is the gateway's answer, shown on the form."""

    card_number = forms.CharField(label="Card number", max_length=30, error_messages={
        "required": "Enter your card number."})
    expiry = forms.CharField(label="Expiry (MM/YY)", max_length=9, error_messages={
        "required": "Enter the expiry date on your card."})
    cvc = forms.CharField(label="Security code (CVC)", max_length=4, error_messages={
        "required": "Enter the 3 or 4 digits on the back of your card."})

    def clean_card_number(self) -> str:
        number = re.sub(r"[\s-]", "", self.cleaned_data["card_number"])
        if not number.isascii() or not number.isdigit() or not 12 <= len(number) <= 19:
            raise forms.ValidationError("Enter the 12 to 19 digits on the front of your card.")
        return number

    def clean_expiry(self) -> tuple[int, int]:
        match = _EXPIRY.match(self.cleaned_data["expiry"]) if self.cleaned_data["expiry"].isascii() else None
        if match is None or not 1 <= int(match.group(1)) <= 12:
            raise forms.ValidationError("Enter the expiry date as MM/YY, for example 04/29.")
        month, year = int(match.group(1)), int(match.group(2))
        return month, (2000 + year if year < 100 else year)

    def clean_cvc(self) -> str:
        cvc = self.cleaned_data["cvc"].strip()
        if not cvc.isascii() or not cvc.isdigit() or len(cvc) not in (3, 4):
            raise forms.ValidationError("Enter the 3 or 4 digits on the back of your card.")
        return cvc

    def submitted(self) -> dict[str, str]:
        month, year = self.cleaned_data["expiry"]
        return {"card_number": self.cleaned_data["card_number"], "exp_month": str(month), "exp_year": str(year),
                "cvc": self.cleaned_data["cvc"]}


class StripeCardForm(forms.Form):
    """Stripe.js confirmed the SetupIntent in the browser; the server finishes it by id."""

    setup_intent = forms.CharField(max_length=100, widget=forms.HiddenInput, error_messages={
        "required": "Your card was not confirmed yet. Please enter it again."},
        validators=[RegexValidator(r"^seti_[A-Za-z0-9_]+$", "Your card could not be confirmed. Please try again.")])

    def submitted(self) -> dict[str, str]:
        return {"setup_intent": self.cleaned_data["setup_intent"]}


CARD_FORMS = {"sandbox": SandboxCardForm, "stripe": StripeCardForm}
