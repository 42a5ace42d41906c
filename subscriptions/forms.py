"""Input for the subscription dialogs. Each form carries the dialog's one-time token (payments.forms.TokenForm):
it becomes the service's `request_key`, so a double submit executes once, and the cancel dialog's steps share it
(the retention offer it showed is found again by it)."""

from __future__ import annotations

from django import forms

from payments.forms import TokenForm
from subscriptions.models import Plan, Subscription
from subscriptions.retention import pause_months_choices

WHEN_CHANGE = [("now", "Now, with proration"), ("renewal", "At renewal")]
WHEN_CANCEL = [("period_end", "At the end of the period"), ("now", "Now")]


class SubscriptionForm(TokenForm):
    """A dialog's form, made for one subscription (the plan list depends on it)."""

    def __init__(self, *args, subscription: Subscription, **kwargs):
        super().__init__(*args, **kwargs)
        self.subscription = subscription


class DialogTokenForm(TokenForm):
    """The cancel dialog's steps: the token is required, since the steps find the offer they showed by it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["form_token"].required = True
        self.fields["form_token"].error_messages["required"] = "This form is damaged; reload the page."


class ChangePlanForm(SubscriptionForm):
    plan = forms.ChoiceField(label="New plan", error_messages={
        "required": "Choose a plan.",
        "invalid_choice": "Choose one of the plans listed: an active plan of the same currency and billing interval."})
    when = forms.ChoiceField(choices=WHEN_CHANGE, required=False, label="When",
                             error_messages={"invalid_choice": "Choose now or at renewal."})

    def __init__(self, *args, subscription: Subscription, **kwargs):
        from subscriptions.selectors import plan_choices

        super().__init__(*args, subscription=subscription, **kwargs)
        self.choices = plan_choices(subscription)  # every active plan; those it may not change to say why
        self.plans = {choice.code: choice.plan for choice in self.choices if not choice.why_not}
        self.fields["plan"].choices = [(code, plan.name) for code, plan in self.plans.items()]

    def clean_plan(self) -> Plan:
        return self.plans[self.cleaned_data["plan"]]

    def clean_when(self) -> str | None:
        return self.cleaned_data["when"] or None  # blank: the service's default (upgrade now, downgrade at renewal)


class PauseForm(SubscriptionForm):
    resume_on = forms.DateField(required=False, label="Resume on (optional)",
                                error_messages={"invalid": "Enter a date like 2027-01-31."},
                                widget=forms.DateInput(attrs={"type": "date"}))


class ExtendTrialForm(SubscriptionForm):
    days = forms.IntegerField(label="Extend by (days)", min_value=1, max_value=365, error_messages={
        "required": "Enter a number of days.", "invalid": "Enter a whole number of days.",
        "min_value": "Extend by at least one day.", "max_value": "Enter at most 365 days."})


class ConfirmForm(SubscriptionForm):
    """Resume, keep a subscription set to cancel: nothing to choose, only the confirm."""


class CancelReasonForm(DialogTokenForm):
    reason = forms.ChoiceField(choices=Subscription.CancelReason.choices, widget=forms.RadioSelect,
                               label="Why is the customer cancelling?",
                               error_messages={"required": "Choose why the customer is cancelling.",
                                               "invalid_choice": "Choose one of the reasons listed."})


class OfferDecisionForm(CancelReasonForm):
    """Accept or decline the offer the reason step showed (found again by the dialog's token and the reason)."""

    months = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Pause for",
                                    error_messages={"invalid_choice": "Choose how many months to pause."})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["months"].choices = [(n, f"{n} month{'s' if n != 1 else ''}") for n in pause_months_choices()]


class CancelForm(CancelReasonForm):
    when = forms.ChoiceField(choices=WHEN_CANCEL, label="Cancel",
                             error_messages={"required": "Choose when the cancel takes effect.",
                                             "invalid_choice": "Choose now or at the end of the period."})
    after_settle = forms.BooleanField(required=False)  # "Cancel once it settles": the submit button's value


class RetentionReportForm(forms.Form):
    days = forms.TypedChoiceField(coerce=int, required=False, empty_value=30, choices=[(30, "30"), (90, "90")])
