from datetime import date

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxValueValidator, MinValueValidator

User = get_user_model()


class DayField(forms.DateField):
    """A calendar day people can mean: 1900-01-01 .. 2199-12-31. Far dates (0001-01-01, 9999-12-31) are refused
    here, so a view can turn any day into an aware datetime and add a day to it without overflowing."""

    EARLIEST, LATEST = date(1900, 1, 1), date(2199, 12, 31)
    MESSAGE = f"Pick a date between {EARLIEST.isoformat()} and {LATEST.isoformat()}."

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators += [MinValueValidator(self.EARLIEST, message=self.MESSAGE),
                            MaxValueValidator(self.LATEST, message=self.MESSAGE)]


def current_password_field(**kwargs) -> forms.CharField:
    """The signed-in user's password, asked again before a risky action (a new API token, approving a refund
    above the limit): the page's re-authentication step. Check it with confirm_current_password."""
    return forms.CharField(strip=False, label=kwargs.pop("label", "Your password"), max_length=4096,
                           widget=forms.PasswordInput(attrs={"class": "form-control",
                                                             "autocomplete": "current-password"}), **kwargs)


def confirm_current_password(user, password: str, *, refusal: str) -> str:
    """The password when it is the user's; otherwise a form error saying what was not done (`refusal`)."""
    if not password or not user.check_password(password):
        raise forms.ValidationError(refusal, code="wrong_password")
    return password


class LoginForm(AuthenticationForm):
    # Declared with its max length (AuthenticationForm sets one only on the widget): a longer name is a form error
    # before authentication, so the login throttle never records a name longer than its own column.
    username = forms.CharField(max_length=User._meta.get_field(User.USERNAME_FIELD).max_length,
                               widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username",
                                                             "class": "form-control"}))
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password",
                                                                              "class": "form-control"}))


class ApiTokenForm(forms.Form):
    """A new API token: a name, how long it lives, and the user's password again (a token acts as them)."""

    EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "Never")]

    name = forms.CharField(max_length=80, label="Token name",
                           widget=forms.TextInput(attrs={"class": "form-control",
                                                         "placeholder": "e.g. Helpdesk integration"}),
                           error_messages={"required": "Give the token a name (up to 80 characters).",
                                           "max_length": "Give the token a name (up to 80 characters)."})
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90", label="Expires after",
                                   widget=forms.Select(attrs={"class": "form-select"}))
    password = current_password_field()

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_expires_in(self) -> int | None:
        value = self.cleaned_data["expires_in"]
        return None if value == "never" else int(value)

    def clean_password(self) -> str:
        return confirm_current_password(self.user, self.cleaned_data["password"],
                                        refusal="That is not your password. No token was created.")


def _customer_id_field():
    return forms.RegexField(required=False, regex=r"^cus_[0-9a-z]{4,20}$", strip=True,
                            error_messages={"invalid": "A customer id looks like cus_ followed by letters and digits."})


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=80)
    customer = _customer_id_field()
    actor = forms.CharField(required=False, max_length=150)
    before = forms.CharField(required=False)  # a page cursor, checked by its decoder (portal/cursors.py)

    FILTERS = ("action", "customer", "actor")

    def has_filters(self) -> bool:
        """Whether the reader narrowed the list (an empty page then means "no match", not "nothing yet")."""
        return any((self.data.get(name) or "").strip() for name in self.FILTERS)


class AccessLogFilterForm(forms.Form):
    customer = _customer_id_field()
    user = forms.CharField(required=False, max_length=150)
    since = forms.DateField(required=False, error_messages={"invalid": "Enter a date as YYYY-MM-DD."})
    until = forms.DateField(required=False, error_messages={"invalid": "Enter a date as YYYY-MM-DD."})
    after = forms.CharField(required=False)  # a page cursor, checked by its decoder (portal/cursors.py)

    FILTERS = ("customer", "user", "since", "until")

    def has_filters(self) -> bool:
        return any((self.data.get(name) or "").strip() for name in self.FILTERS)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data
