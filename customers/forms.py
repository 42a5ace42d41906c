"""Input parsing for the customer pages and API: every value a request sends goes through one of these."""

from __future__ import annotations

from babel import Locale
from django import forms
from django.core.validators import RegexValidator

from customers.models import ActivityEvent, Customer
from customers.selectors.profile import Cursor
from customers.services import NOTE_MAX_LENGTH, PROFILE_FIELDS
from portal.cursors import InvalidCursor

# Two-letter region codes babel knows, minus the ones that are not places a customer lives in.
_NOT_COUNTRIES = {"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB"}
COUNTRY_CHOICES = sorted(
    ((code, name) for code, name in Locale("en").territories.items()
     if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES),
    key=lambda choice: choice[1],
)
COUNTRY_NAMES = dict(COUNTRY_CHOICES)

phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 ().\-/]{4,30}$",
    "Use digits, spaces and + ( ) - . / only, for example +1 555 0100.",
)


class CursorField(forms.CharField):
    """A keyset page cursor (opaque in URLs, see portal/cursors.py); cleans to a Cursor or None."""

    default_error_messages = {"invalid_cursor": "This page link is no longer valid. Start again from the newest "
                                                "entries."}

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return Cursor.decode(value)
        except InvalidCursor:
            raise forms.ValidationError(self.error_messages["invalid_cursor"], code="invalid_cursor") from None


class PageForm(forms.Form):
    cursor = CursorField(required=False)


class ActivityFilterForm(PageForm):
    kind = forms.ChoiceField(required=False, choices=[("", "All"), *ActivityEvent.Kind.choices])


class NoteForm(forms.Form):
    body = forms.CharField(
        max_length=NOTE_MAX_LENGTH, label="New note",
        error_messages={"required": "Write the note before saving it."},
        widget=forms.Textarea(attrs={"rows": 3, "class": "form-control",
                                     "placeholder": "Plain text, visible to portal users only."}),
    )


class TagForm(forms.Form):
    # The length and character rules apply after normalising (customers.services.normalize_tag_name).
    name = forms.CharField(max_length=200, label="Add tag",
                           error_messages={"required": "Type a tag name."},
                           widget=forms.TextInput(attrs={"class": "form-control form-control-sm",
                                                         "autocomplete": "off", "list": "tag-suggestions",
                                                         "placeholder": "Add tag…"}))


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=80)
    last_name = forms.CharField(max_length=80)
    email = forms.EmailField(max_length=254)
    phone = forms.CharField(max_length=32, required=False, validators=[phone_validator])
    address_line1 = forms.CharField(max_length=120, required=False, label="Address")
    address_line2 = forms.CharField(max_length=120, required=False, label="Address (line 2)")
    city = forms.CharField(max_length=80, required=False)
    postal_code = forms.CharField(max_length=20, required=False)
    country = forms.ChoiceField(choices=COUNTRY_CHOICES)

    def __init__(self, *args, customer: Customer, **kwargs):
        kwargs.setdefault("initial", {name: getattr(customer, name) for name in PROFILE_FIELDS})
        super().__init__(*args, **kwargs)
        if customer.country and customer.country not in COUNTRY_NAMES:  # keep a legacy code selectable
            self.fields["country"].choices = [(customer.country, customer.country), *COUNTRY_CHOICES]
        for field in self.fields.values():
            css = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            field.widget.attrs.setdefault("class", css)

    @classmethod
    def for_partial_update(cls, customer: Customer, changes: dict) -> ProfileForm:
        """The API's PATCH: fields not sent keep their current value."""
        data = {name: getattr(customer, name) for name in PROFILE_FIELDS}
        data.update(changes)
        return cls(data, customer=customer)


class OwnerForm(forms.Form):
    """The profile header's owner select: "" (nobody), "me", or the username of a user who can own customers.

    `choices` are the lookups' owners; the signed-in user's own entry is offered as "me".
    """

    NOBODY, ME = "", "me"
    owner = forms.CharField(required=False, max_length=150, label="Owner")

    def __init__(self, data=None, *, viewer, owners, **kwargs):
        super().__init__(data, **kwargs)
        self.viewer = viewer
        self.owners = {owner.username: owner.id for owner in owners}

    def clean_owner(self) -> int | None:
        value = self.cleaned_data["owner"].strip()
        if value == self.NOBODY:
            return None
        if value == self.ME:
            return self.viewer.pk
        if value not in self.owners:
            raise forms.ValidationError(f"Nobody who can own customers is called “{value}”.", code="invalid_owner")
        return self.owners[value]
