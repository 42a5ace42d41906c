"""Forms of the support app: the email-template form of Django's admin, and the agent's send-email form."""

from __future__ import annotations

from django import forms
from django.utils.html import format_html, format_html_join

from support.email_context import VARIABLES, TemplateProblem, example_values, render_email, template_variables
from support.models import EmailTemplate


def variables_help() -> str:
    """The documented variables as an HTML list, for the admin form."""
    items = format_html_join("", "<li><code>{{{{ {} }}}}</code>: {}</li>",
                             ((name, var.description) for name, var in VARIABLES.items()))
    return format_html("Django template syntax. Variables: <ul>{}</ul>", items)


class EmailTemplateForm(forms.ModelForm):
    """Refuses a template that would not render: a syntax error, a forbidden tag, or an unknown variable (named)."""

    class Meta:
        model = EmailTemplate
        fields = ["code", "name", "subject", "body", "html", "marketing", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["body"].help_text = variables_help()

    def _check(self, name: str, *, html: bool = False) -> str:
        source = self.cleaned_data.get(name, "")
        try:
            template_variables(source, html=html)
        except TemplateProblem as exc:
            raise forms.ValidationError(exc.message, code=exc.code)
        return source

    def clean_subject(self):
        return self._check("subject")

    def clean_body(self):
        return self._check("body")

    def clean_html(self):
        return self._check("html", html=True)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            trial = EmailTemplate(**{name: cleaned.get(name, "") for name in ("subject", "body", "html")})
            try:  # a render with the documented examples catches what the walk cannot (e.g. a bad attribute)
                render_email(trial, example_values())
            except TemplateProblem as exc:
                raise forms.ValidationError(exc.message, code=exc.code)
            except Exception as exc:  # noqa: BLE001 (a filter that fails on real values: say so on the form)
                raise forms.ValidationError(f"The template does not render: {exc}", code="invalid_template")
        return cleaned


class EmailSendForm(forms.Form):
    """The send dialog: which template. The choices are the customer's sendable templates."""

    template = forms.ChoiceField(error_messages={"required": "Choose a template.",
                                                 "invalid_choice": "Choose one of the templates listed."})

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [(choice.code, choice.name) for choice in choices if not choice.refusal]
