from django import forms
from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    username = forms.CharField(widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username",
                                                             "class": "form-control"}))
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password",
                                                                              "class": "form-control"}))


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=80, widget=forms.TextInput(attrs={"class": "form-control",
                                                                        "placeholder": "e.g. Helpdesk integration"}))


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=80)
    customer = forms.RegexField(required=False, regex=r"^cus_[0-9a-z]{4,20}$",
                                error_messages={"invalid": "A customer id looks like cus_ followed by letters and digits."})
    actor = forms.CharField(required=False, max_length=150)
    before = forms.CharField(required=False)  # a page cursor, checked by its decoder (portal/cursors.py)
