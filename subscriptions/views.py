"""The subscription actions of a customer's profile, and the retention report.

Each action opens in the profile's subscription dialog (htmx loads the form into `#subscription-body`; without
JavaScript it is a page of its own). Before anything is submitted the dialog shows the action's impact: the
service run with `preview=True` (charged or credited now, the next invoice, the MRR change), swapped in again
whenever an input changes; a refusal shows its sentence and the submit stays disabled. The POST runs the same
service; success sends the browser back to the Subscriptions tab (HX-Redirect) with the service's own sentence.

Cancelling has steps, one form each, swapped in place: the reason → the retention offer that reason gets (recorded
when shown, once per dialog: the dialog's token) → accept it, or decline and choose when to cancel (with its
preview). A cancel blocked by a pending payment offers "Cancel once it settles".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from customers.views.profile import customer_url
from payments.models import Payment
from portal.access import require_capability
from portal.errors import DomainError
from portal.money import format_money
from portal.roles import Cap
from portal.write_views import apply, form_errors
from subscriptions import services
from subscriptions.access import access_subscription
from subscriptions.forms import (
    CancelForm, CancelReasonForm, ChangePlanForm, ConfirmForm, ExtendTrialForm, OfferDecisionForm, PauseForm,
    RetentionReportForm,
)
from subscriptions.models import RetentionOffer, Subscription
from subscriptions.retention import (
    Kind, accepted_message, offer_of, pause_months_choices, retention_offer_accept, retention_offer_decline,
    retention_offer_make,
)
from subscriptions.selectors import REPORT_WINDOWS, default_plan, plan_choices, retention_report

ACTION_TEMPLATE = "subscriptions/action.html"
CANCEL_TEMPLATE = "subscriptions/cancel.html"
REPORT_TEMPLATE = "subscriptions/retention.html"
TRIAL_DAYS_OFFERED = 7  # what the extend-trial dialog opens on


# ---- What the dialogs show -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preview:
    """The service's answer to the inputs so far: its ActionResult, its refusal, or what is still to fill in."""

    result: services.ActionResult | None = None
    refusal: str = ""
    code: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        """The action may be confirmed: it is allowed and would change something."""
        return self.result is not None and self.result.changed

    @property
    def noop(self) -> bool:
        """Allowed, but the subscription is already so: the service's sentence says why nothing would change."""
        return self.result is not None and not self.result.changed

    @property
    def mrr_delta(self) -> int:
        return self.result.impact.mrr_after - self.result.impact.mrr_before if self.result else 0

    @property
    def mrr_delta_abs(self) -> int:
        return abs(self.mrr_delta)


def preview_of(form, run: Callable[..., services.ActionResult]) -> Preview:
    """Validate `form` and ask the service (preview=True) what its clean data would do."""
    if not form.is_valid():
        errors = [error for name, errors in form.errors.items() if name != "form_token" for error in errors]
        return Preview(hint=errors[0] if errors else "This form is damaged; reload the page.")
    try:
        result = run(form.cleaned_data, preview=True, request_key=None)
    except DomainError as exc:
        return Preview(refusal=exc.message, code=exc.code)
    if result.verdict is not None and not result.verdict.allowed:
        return Preview(refusal=result.verdict.reason, code=result.verdict.code)
    return Preview(result=result)


def _done(request, subscription: Subscription, text: str, *, ok: bool = True):
    (messages.success if ok else messages.error)(request, text)
    url = customer_url(subscription.customer, "subscriptions")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _result_message(result: services.ActionResult) -> tuple[str, bool]:
    """The service's sentence, with the next invoice when the sentence does not name it already."""
    payment = result.payment
    ok = payment is None or payment.status != Payment.Status.FAILED
    text = result.message or result.impact.summary
    impact = result.impact
    if result.changed and impact.next_invoice_at and impact.next_invoice_amount:
        amount = format_money(impact.next_invoice_amount, impact.currency)
        if amount not in text:
            day = timezone.localtime(impact.next_invoice_at)
            text = f"{text.rstrip()} Next invoice: {amount} on {day.day} {day:%b %Y}."
    return text, ok


def _token() -> str:
    return uuid.uuid4().hex


# ---- Change plan, pause, resume, keep, extend trial ------------------------------------------------------------

@dataclass(frozen=True)
class Dialog:
    action: str  # transitions.ACTIONS
    title: str
    submit: str
    form: type
    run: Callable[..., services.ActionResult]  # (subscription, data, *, actor, preview, request_key)
    initial: Callable[[Subscription], dict] = lambda subscription: {}
    error_fields: dict[str, str] = field(default_factory=dict)


def _initial_plan(subscription: Subscription) -> dict:
    plan = default_plan(subscription, plan_choices(subscription))
    return {"plan": plan.code if plan else "", "when": ""}


def _initial_days(subscription: Subscription) -> dict:
    return {"days": TRIAL_DAYS_OFFERED}


DIALOGS: dict[str, Dialog] = {
    "plan": Dialog("change_plan", "Change plan", "Change plan", ChangePlanForm,
                   lambda sub, data, **kw: services.subscription_change_plan(
                       subscription=sub, plan=data["plan"], when=data["when"], **kw),
                   initial=_initial_plan, error_fields={"same_plan": "plan", "plan_inactive": "plan",
                                                        "currency": "plan", "invalid_when": "when"}),
    "pause": Dialog("pause", "Pause", "Pause", PauseForm,
                    lambda sub, data, **kw: services.subscription_pause(
                        subscription=sub, resume_on=data["resume_on"], **kw),
                    error_fields={"invalid_resume_on": "resume_on"}),
    "resume": Dialog("resume", "Resume", "Resume", ConfirmForm,
                     lambda sub, data, **kw: services.subscription_resume(subscription=sub, **kw)),
    "keep": Dialog("undo_cancel", "Keep subscription", "Keep subscription", ConfirmForm,
                   lambda sub, data, **kw: services.subscription_cancel_undo(subscription=sub, **kw)),
    "extend-trial": Dialog("extend_trial", "Extend trial", "Extend trial", ExtendTrialForm,
                           lambda sub, data, **kw: services.subscription_extend_trial(
                               subscription=sub, days=data["days"], **kw),
                           initial=_initial_days, error_fields={"invalid_days": "days", "trial_cap": "days"}),
}


def _dialog_of(action: str) -> Dialog:
    try:
        return DIALOGS[action]
    except KeyError:
        raise Http404("No such subscription action.") from None


def _runner(request, dialog: Dialog, subscription: Subscription):
    return lambda data, **kw: dialog.run(subscription, data, actor=request.user, **kw)


def _action_context(request, slug: str, dialog: Dialog, subscription: Subscription, form) -> dict:
    context = {"subscription": subscription, "customer": subscription.customer, "slug": slug, "dialog": dialog,
               "form": form, "preview": preview_of(form, _runner(request, dialog, subscription)),
               "back_url": customer_url(subscription.customer, "subscriptions")}
    return context


def _render_dialog(request, context: dict, status: int = 200):
    template = f"{ACTION_TEMPLATE}#dialog_body" if request.htmx else ACTION_TEMPLATE
    return render(request, template, context, status=status)


@require_GET
@require_capability(Cap.MANAGE_SUBSCRIPTIONS)
def action_new(request, public_id: str, action: str):
    dialog = _dialog_of(action)
    subscription = access_subscription(request, public_id)
    form = dialog.form({"form_token": _token(), **dialog.initial(subscription)}, subscription=subscription)
    return _render_dialog(request, _action_context(request, action, dialog, subscription, form))


@require_GET
@require_capability(Cap.MANAGE_SUBSCRIPTIONS)
def action_preview(request, public_id: str, action: str):
    """The impact of the inputs so far (swapped in whenever one changes)."""
    dialog = _dialog_of(action)
    subscription = access_subscription(request, public_id)
    data = request.GET.copy()
    if dialog.action == "change_plan" and request.htmx and request.htmx.trigger_name == "plan":
        data["when"] = ""  # another plan: its own default (upgrade now, downgrade at renewal)
    form = dialog.form(data, subscription=subscription)
    return render(request, f"{ACTION_TEMPLATE}#live", _action_context(request, action, dialog, subscription, form))


@require_POST
@require_capability(Cap.MANAGE_SUBSCRIPTIONS)
def action_confirm(request, public_id: str, action: str):
    dialog = _dialog_of(action)
    subscription = access_subscription(request, public_id)
    form = dialog.form(request.POST, subscription=subscription)
    outcome = apply(form, lambda data: dialog.run(subscription, data, actor=request.user, preview=False,
                                                  request_key=form.request_key(request.user)),
                    error_fields=dialog.error_fields)
    if not outcome.ok:
        subscription = access_subscription(request, public_id)  # as it is now
        context = _action_context(request, action, dialog, subscription,
                                  dialog.form(request.POST, subscription=subscription))
        context["form"] = form  # the submitted form, with the refusal on it
        return _render_dialog(request, context, status=422)
    text, ok = _result_message(outcome.result)
    return _done(request, subscription, text, ok=ok)


@require_POST
@require_capability(Cap.MANAGE_SUBSCRIPTIONS)
def scheduled_change_cancel(request, public_id: str):
    subscription = access_subscription(request, public_id)
    form = ConfirmForm(request.POST, subscription=subscription)
    outcome = apply(form, lambda data: services.subscription_scheduled_change_cancel(
        subscription=subscription, actor=request.user, request_key=form.request_key(request.user)))
    if not outcome.ok:
        return _done(request, subscription, form_errors(form), ok=False)
    text, ok = _result_message(outcome.result)
    return _done(request, subscription, text, ok=ok)


# ---- Cancel: reason → offer → accept, or decline and cancel -----------------------------------------------------

def _offer_key(form, user) -> str:
    """The offer a dialog showed for a reason: one per dialog (its token) and reason."""
    return f"{form.request_key(user)}:offer:{form.cleaned_data['reason']}"


def _cancel_context(request, subscription: Subscription, step: str, **extra) -> dict:
    return {"subscription": subscription, "customer": subscription.customer, "step": step,
            "back_url": customer_url(subscription.customer, "subscriptions"),
            "verdict": services.action_verdicts(subscription, actor=request.user)["cancel"], **extra}


def _render_step(request, context: dict, status: int = 200):
    if request.htmx:
        partial = "dialog_body" if request.method == "GET" else "step"
        return render(request, f"{CANCEL_TEMPLATE}#{partial}", context, status=status)
    return render(request, CANCEL_TEMPLATE, context, status=status)


def _default_when(subscription: Subscription) -> str:
    """At the end of the period (the customer keeps what they paid for), except a paused subscription, which has no
    period running."""
    return "now" if subscription.status == Subscription.Status.PAUSED else "period_end"


def _cancel_preview(request, subscription: Subscription, form: CancelForm) -> Preview:
    return preview_of(form, lambda data, **kw: services.subscription_cancel(
        subscription=subscription, when=data["when"], reason=data["reason"], actor=request.user, **kw))


def _confirm_step(request, subscription: Subscription, form: CancelForm, status: int = 200, *,
                  preview_form: CancelForm | None = None, **extra):
    """When the cancel takes effect, with its preview. `preview_form`: the inputs to preview, when `form` carries
    a refusal of the submit (a form with errors previews nothing)."""
    preview = _cancel_preview(request, subscription, preview_form or form)
    return _render_step(request, _cancel_context(request, subscription, "confirm", form=form, preview=preview,
                                                 **extra), status)


@require_GET
@require_capability(Cap.MANAGE_SUBSCRIPTIONS)
def cancel_new(request, public_id: str):
    subscription = access_subscription(request, public_id)
    form = CancelReasonForm(initial={"form_token": _token()})
    return _render_step(request, _cancel_context(request, subscription, "reason", form=form))


@require_POST
@require_capability(Cap.MANAGE_SUBSCRIPTIONS)
def cancel_offer(request, public_id: str):
    """The reason given: record the offer it gets (once per dialog) and show it, or go on to the cancel."""
    subscription = access_subscription(request, public_id)
    form = CancelReasonForm(request.POST)
    outcome = apply(form, lambda data: retention_offer_make(subscription=subscription, reason=data["reason"],
                                                            actor=request.user,
                                                            request_key=_offer_key(form, request.user)))
    if not outcome.ok:
        return _render_step(request, _cancel_context(request, subscription, "reason", form=form), status=422)
    offer = outcome.result
    data = {"form_token": form.cleaned_data["form_token"], "reason": offer.reason}
    if offer.kind == Kind.NONE:
        return _confirm_step(request, subscription, CancelForm({**data, "when": _default_when(subscription)}),
                             no_offer=True)
    decision = OfferDecisionForm(initial={**data, "months": offer.terms.get("months")})
    return _render_step(request, _cancel_context(request, subscription, "offer", form=decision, offer=offer,
                                                 shown=offer_of(offer), months=pause_months_choices()))


def _decided_offer(request, subscription: Subscription, form: OfferDecisionForm) -> RetentionOffer:
    offer = RetentionOffer.objects.filter(subscription=subscription,
                                          request_key=_offer_key(form, request.user)).first()
    if offer is None:
        raise DomainError("This offer is no longer open here; start the cancel again.", code="no_offer")
    return offer


def _offer_again(request, subscription: Subscription, form: OfferDecisionForm):
    """The offer step again with its errors (422)."""
    offer = None
    if "reason" in form.cleaned_data and form.cleaned_data.get("form_token"):
        offer = RetentionOffer.objects.filter(subscription=subscription,
                                              request_key=_offer_key(form, request.user)).first()
    if offer is None:
        return _render_step(request, _cancel_context(request, subscription, "reason", form=form), status=422)
    return _render_step(request, _cancel_context(request, subscription, "offer", form=form, offer=offer,
                                                 shown=offer_of(offer), months=pause_months_choices()), status=422)


@require_POST
@require_capability(Cap.MANAGE_SUBSCRIPTIONS)
def cancel_accept(request, public_id: str):
    subscription = access_subscription(request, public_id)
    form = OfferDecisionForm(request.POST)

    def accept(data):
        offer = _decided_offer(request, subscription, form)
        return retention_offer_accept(offer=offer, actor=request.user, months=data["months"],
                                      request_key=f"{_offer_key(form, request.user)}:accept")

    outcome = apply(form, accept, error_fields={"invalid_months": "months"})
    if not outcome.ok:
        return _offer_again(request, subscription, form)
    return _done(request, subscription, accepted_message(outcome.result, subscription))


@require_POST
@require_capability(Cap.MANAGE_SUBSCRIPTIONS)
def cancel_decline(request, public_id: str):
    """The customer said no to the offer: record it, and go on to when the cancel takes effect."""
    subscription = access_subscription(request, public_id)
    form = OfferDecisionForm(request.POST)
    outcome = apply(form, lambda data: retention_offer_decline(offer=_decided_offer(request, subscription, form),
                                                               actor=request.user))
    if not outcome.ok:
        return _offer_again(request, subscription, form)
    data = {"form_token": form.cleaned_data["form_token"], "reason": form.cleaned_data["reason"],
            "when": _default_when(subscription)}
    return _confirm_step(request, subscription, CancelForm(data))


@require_GET
@require_capability(Cap.MANAGE_SUBSCRIPTIONS)
def cancel_preview(request, public_id: str):
    subscription = access_subscription(request, public_id)
    form = CancelForm(request.GET)
    context = _cancel_context(request, subscription, "confirm", form=form,
                              preview=_cancel_preview(request, subscription, form))
    return render(request, f"{CANCEL_TEMPLATE}#live", context)


@require_POST
@require_capability(Cap.MANAGE_SUBSCRIPTIONS)
def cancel_confirm(request, public_id: str):
    subscription = access_subscription(request, public_id)
    form = CancelForm(request.POST)
    outcome = apply(form, lambda data: services.subscription_cancel(
        subscription=subscription, when=data["when"], reason=data["reason"], actor=request.user,
        after_settle=data["after_settle"], request_key=f"{form.request_key(request.user)}:cancel"),
        error_fields={"invalid_reason": "reason", "invalid_when": "when"})
    if not outcome.ok:
        subscription = access_subscription(request, public_id)
        return _confirm_step(request, subscription, form, status=422, preview_form=CancelForm(request.POST))
    text, ok = _result_message(outcome.result)
    return _done(request, subscription, text, ok=ok)


# ---- Retention report ------------------------------------------------------------------------------------------

@require_GET
@require_capability(Cap.VIEW_CUSTOMERS)
def retention(request):
    """Offers made, accepted and revenue saved, by cancel reason: counts and sums only, no customer's data."""
    form = RetentionReportForm(request.GET)
    days = form.cleaned_data["days"] if form.is_valid() else REPORT_WINDOWS[0]
    return render(request, REPORT_TEMPLATE, {"report": retention_report(days=days), "windows": REPORT_WINDOWS})
