"""Forms of the support app: the email-template form of Django's admin, the agent's send-email form, and the
ticket forms (open, comment, status, priority, assign, queue)."""

from __future__ import annotations

from django import forms
from django.core import signing
from django.utils.html import format_html, format_html_join

from support.email_context import VARIABLES, TemplateProblem, example_values, render_email, template_variables
from support import rules
from support.models import EmailTemplate, Ticket
from support.selectors import QUEUES
from support.services import TICKET_SUBJECT_MAX_LENGTH, TICKET_TEXT_MAX_LENGTH


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


# ---- Tickets ---------------------------------------------------------------------------------------------------

_EVENT_SIGNER_SALT = "support.ticket-from-event"


def event_reference(event_id: int) -> str:
    """The timeline event a new ticket is opened from, as a signed token: events have no public id, and database
    keys never appear in URLs in plain sight, nor can a forged one point at another customer's event."""
    return signing.Signer(salt=_EVENT_SIGNER_SALT).sign_object(event_id)


def event_id_from_reference(token: str) -> int | None:
    try:
        value = signing.Signer(salt=_EVENT_SIGNER_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return value if type(value) is int else None


PRIORITY_CHOICES = [(code, dict(Ticket.Priority.choices)[code]) for code in rules.PRIORITIES]


class TicketOpenForm(forms.Form):
    INVALID_EVENT = "This link to a timeline event is not valid; open the ticket from the Activity tab again."

    subject = forms.CharField(max_length=TICKET_SUBJECT_MAX_LENGTH, label="Subject",
                              error_messages={"required": "Write the subject first."})
    description = forms.CharField(max_length=TICKET_TEXT_MAX_LENGTH, label="Description",
                                  error_messages={"required": "Write the description first."},
                                  widget=forms.Textarea(attrs={"rows": 5}))
    priority = forms.ChoiceField(choices=PRIORITY_CHOICES, initial="normal", label="Priority")
    # What the ticket is opened from: a payment's public id, a timeline event's signed reference.
    payment = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)
    event = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def clean_event(self) -> int | None:
        token = self.cleaned_data.get("event")
        if not token:
            return None
        event_id = event_id_from_reference(token)
        if event_id is None:
            raise forms.ValidationError(self.INVALID_EVENT)
        return event_id


class TicketCommentForm(forms.Form):
    body = forms.CharField(max_length=TICKET_TEXT_MAX_LENGTH, label="Message",
                           error_messages={"required": "Write the message first."},
                           widget=forms.Textarea(attrs={"rows": 4}))
    public = forms.TypedChoiceField(
        choices=[("0", "Internal note"), ("1", "Public reply (emailed to the customer)")],
        coerce=lambda value: value == "1", initial="0", label="Kind", widget=forms.RadioSelect)


class TicketStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Ticket.Status.choices, label="Status")


class TicketPriorityForm(forms.Form):
    priority = forms.ChoiceField(choices=PRIORITY_CHOICES, label="Priority")


class TicketAssignForm(forms.Form):
    """`assignee`: a username, or empty for nobody. Who may be given tickets is the service's rule."""

    assignee = forms.CharField(required=False, max_length=150, label="Assignee")

    def clean_assignee(self):
        from django.contrib.auth import get_user_model

        username = self.cleaned_data.get("assignee") or ""
        if not username:
            return None
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"There is no active user “{username[:40]}”.")
        return user


class QueueForm(forms.Form):
    queue = forms.ChoiceField(choices=[(q.code, q.label) for q in QUEUES], required=False)
    cursor = forms.CharField(required=False, max_length=2000)
