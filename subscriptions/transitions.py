"""The subscription state machine as data: which action an agent may take in which state, which event the billing
jobs apply in which state, and the sentence an agent reads when something is not allowed.

States (Subscription.Status): trial, active, grace, paused, suspended, cancelled, expired.

Agent actions (subscriptions/services.py), the same through the profile and the API:
    change_plan   trial, active                     (now with proration, or at renewal)
    cancel        trial, active, grace, paused      (now, or at period end: stays live until then)
    undo_cancel   a live subscription set to cancel at period end
    pause         active                            (optional resume date)
    resume        paused; suspended once its outstanding invoice is paid (the resume tries the charge first)
    extend_trial  trial                             (total trial capped at settings.PORTAL["MAX_TRIAL_DAYS"])

Billing events (subscriptions/billing.py), applied by the scheduled jobs:
    trial_converted   trial → active          the first charge succeeded
    trial_failed      trial → grace           the first charge failed
    renewal_failed    active → grace          a renewal charge failed (access kept; dunning retries)
    payment_recovered grace, suspended → active   the outstanding invoice got paid (retry, card update, agent)
    dunning_exhausted grace → suspended       the last retry failed (no access)
    period_end_cancel trial, active, grace, paused → cancelled   a cancel at period end takes effect
    auto_resume       paused → active         the resume date came
    expire            suspended → expired     suspended for settings.PORTAL["EXPIRE_AFTER_SUSPENDED_DAYS"] days
                      trial, active → expired   a store-billed trial or term (App Store, Google Play) ended and the
                                              store did not renew it within settings.PORTAL["STORE_RENEWAL_GRACE_DAYS"]
                                              days

`allowed(state, action)` answers from the table alone; services add the checks that need more than the state
(a pending payment blocks cancel, the trial cap, the plan's currency) in `subscriptions/services.py`, with the
same Verdict shape, so the profile's action menu can show every refusal on a disabled button.
"""

from __future__ import annotations

from dataclasses import dataclass

from subscriptions.models import Subscription

S = Subscription.Status
TRIAL, ACTIVE, GRACE, PAUSED, SUSPENDED, CANCELLED, EXPIRED = (S.TRIAL, S.ACTIVE, S.GRACE, S.PAUSED, S.SUSPENDED,
                                                              S.CANCELLED, S.EXPIRED)
STATES = tuple(S.values)

ACTIONS = ("change_plan", "cancel", "undo_cancel", "pause", "resume", "extend_trial")
ACTION_LABELS = {"change_plan": "Change plan", "cancel": "Cancel", "undo_cancel": "Keep subscription",
                 "pause": "Pause", "resume": "Resume", "extend_trial": "Extend trial"}

_ENDED = "This subscription has ended; start a new one instead."

# (state, action) → None when allowed, else the sentence that says why not. Every pair is listed.
ACTION_RULES: dict[tuple[str, str], str | None] = {
    (TRIAL, "change_plan"): None,
    (ACTIVE, "change_plan"): None,
    (GRACE, "change_plan"): "The renewal payment is failing: get it paid (retry it, or send a card-update link) "
                            "before changing the plan.",
    (PAUSED, "change_plan"): "The subscription is paused: resume it before changing the plan.",
    (SUSPENDED, "change_plan"): "The subscription is suspended for an unpaid invoice: resume it once the invoice "
                                "is paid, then change the plan.",
    (CANCELLED, "change_plan"): _ENDED,
    (EXPIRED, "change_plan"): _ENDED,

    (TRIAL, "cancel"): None,
    (ACTIVE, "cancel"): None,
    (GRACE, "cancel"): None,
    (PAUSED, "cancel"): None,
    (SUSPENDED, "cancel"): "The subscription is suspended and gives no access; it expires on its own unless the "
                           "invoice is paid.",
    (CANCELLED, "cancel"): "The subscription is already cancelled.",
    (EXPIRED, "cancel"): "The subscription has expired; there is nothing to cancel.",

    (TRIAL, "undo_cancel"): None,
    (ACTIVE, "undo_cancel"): None,
    (GRACE, "undo_cancel"): None,
    (PAUSED, "undo_cancel"): None,
    (SUSPENDED, "undo_cancel"): "Only a subscription set to cancel at period end can be kept.",
    (CANCELLED, "undo_cancel"): "The cancellation has taken effect; start a new subscription instead.",
    (EXPIRED, "undo_cancel"): _ENDED,

    (TRIAL, "pause"): "A trial cannot be paused: extend the trial instead.",
    (ACTIVE, "pause"): None,
    (GRACE, "pause"): "The renewal payment is failing: get it paid before pausing.",
    (PAUSED, "pause"): "The subscription is already paused.",
    (SUSPENDED, "pause"): "The subscription is suspended for an unpaid invoice; pausing would not stop the debt.",
    (CANCELLED, "pause"): _ENDED,
    (EXPIRED, "pause"): _ENDED,

    (TRIAL, "resume"): "The subscription is not paused.",
    (ACTIVE, "resume"): "The subscription is not paused.",
    (GRACE, "resume"): "The subscription is not paused; its failing payment is retried on the dunning schedule.",
    (PAUSED, "resume"): None,
    (SUSPENDED, "resume"): None,
    (CANCELLED, "resume"): _ENDED,
    (EXPIRED, "resume"): _ENDED,

    (TRIAL, "extend_trial"): None,
    (ACTIVE, "extend_trial"): "Only a trial can be extended; the subscription is already paid.",
    (GRACE, "extend_trial"): "Only a trial can be extended.",
    (PAUSED, "extend_trial"): "Only a trial can be extended.",
    (SUSPENDED, "extend_trial"): "Only a trial can be extended.",
    (CANCELLED, "extend_trial"): _ENDED,
    (EXPIRED, "extend_trial"): _ENDED,
}

# (state, event) → the state it leads to. A pair not listed is not applied (the job skips it and says so).
EVENTS: dict[tuple[str, str], str] = {
    (TRIAL, "trial_converted"): ACTIVE,
    (TRIAL, "trial_failed"): GRACE,
    (ACTIVE, "renewal_failed"): GRACE,
    (GRACE, "payment_recovered"): ACTIVE,
    (SUSPENDED, "payment_recovered"): ACTIVE,
    (GRACE, "dunning_exhausted"): SUSPENDED,
    (TRIAL, "period_end_cancel"): CANCELLED,
    (ACTIVE, "period_end_cancel"): CANCELLED,
    (GRACE, "period_end_cancel"): CANCELLED,
    (PAUSED, "period_end_cancel"): CANCELLED,
    (PAUSED, "auto_resume"): ACTIVE,
    (SUSPENDED, "expire"): EXPIRED,
    (TRIAL, "expire"): EXPIRED,
    (ACTIVE, "expire"): EXPIRED,
}

# Where each agent action leads (cancel at period end and undo_cancel keep the state until the period ends).
ACTION_TARGETS: dict[str, str | None] = {"change_plan": None, "cancel": CANCELLED, "undo_cancel": None,
                                         "pause": PAUSED, "resume": ACTIVE, "extend_trial": None}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # why not (empty when allowed)
    code: str = ""  # stable for the API: not_allowed_in_state, payment_pending, trial_cap, …
    offer: str = ""  # a way out the page can offer, e.g. "cancel_when_settled"


ALLOWED = Verdict(True)


def allowed(state: str, action: str) -> Verdict:
    """What the table says about `action` in `state`."""
    reason = ACTION_RULES[(state, action)]
    return ALLOWED if reason is None else Verdict(False, reason, "not_allowed_in_state")


def event_target(state: str, event: str) -> str | None:
    """The state `event` leads to from `state`, or None when it does not apply there."""
    return EVENTS.get((state, event))


def _table_is_complete() -> None:
    missing = [(state, action) for state in STATES for action in ACTIONS if (state, action) not in ACTION_RULES]
    if missing:
        raise AssertionError(f"subscriptions/transitions.py: no rule for {missing}")


_table_is_complete()
