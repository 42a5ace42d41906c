"""Forms of the payments app: the card-update link's send form (agents) and the card forms of the customer's
card-update page (one per gateway: the sandbox takes the card itself, Stripe only the confirmed SetupIntent)."""

from __future__ import annotations

import re

from django import forms
from django.core.validators import RegexValidator

_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/?\s*(\d{2}|\d{4})\s*$")


class CardLinkSendForm(forms.Form):
    """The confirm step: a token chosen when the dialog was shown, so a double submit sends one link."""

    request_token = forms.CharField(max_length=32, widget=forms.HiddenInput,
                                    validators=[RegexValidator(r"^[0-9a-f]{32}$", "Open the dialog again.")])


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
