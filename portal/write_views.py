"""The one shape of every page that changes something:

    access (404; the view's one capability declaration already gave 403) → form → service → message → redirect,
    or, for htmx, the changed fragment

`write_view` does form → service → answer. A service's refusal (DomainError) becomes a form error, on the field its
code maps to; nothing was changed then. Without htmx the outcome is flashed and the browser goes back to the page
(post/redirect/get); with htmx the fragment is re-rendered: 200 with a toast, or 422 with the errors in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.shortcuts import redirect, render
from django_htmx.http import reswap, retarget, trigger_client_event

from portal.errors import DomainError


@dataclass
class Outcome:
    form: Any
    ok: bool
    result: Any = None  # what the service returned


def apply(form, service: Callable[[dict], Any], error_fields: str | dict[str, str] | None = None) -> Outcome:
    """Validate `form` and run `service` with its clean data. A refusal becomes a form error: on `error_fields`
    (a field name, or a map from error code to field; None or an unmapped code: on the whole form)."""
    if not form.is_valid():
        return Outcome(form, False)
    try:
        return Outcome(form, True, service(form.cleaned_data))
    except DomainError as exc:
        field = error_fields.get(exc.code) if isinstance(error_fields, dict) else error_fields
        form.add_error(field, exc.message)
        return Outcome(form, False)


def form_errors(form) -> str:
    return " ".join(error for errors in form.errors.values() for error in errors)


def write_view(request, *, form, service: Callable[[dict], Any], message: str | Callable[[Any], str], redirect_to: str,
               fragment: Callable[[Outcome], tuple[str, dict]], error_fields: str | dict[str, str] | None = None,
               swap_into: str | None = None, invalid_page: Callable[[Outcome], Any] | None = None):
    """Run a write and answer it.

    `message`: the success sentence (or a function of the service's result). `redirect_to`: where a browser without
    htmx goes back to. `fragment(outcome)` → (template, context) of what htmx swaps. `swap_into`: a CSS selector
    the successful fragment replaces (outerHTML) instead of the request's own target. `invalid_page(outcome)`: the
    answer for invalid input when the form has a page of its own (a form without htmx is re-shown, not flashed).
    """
    outcome = apply(form, service, error_fields)
    if not outcome.ok and invalid_page is not None:
        return invalid_page(outcome)
    text = (message(outcome.result) if callable(message) else message) if outcome.ok else form_errors(form)
    if not request.htmx:
        (messages.success if outcome.ok else messages.error)(request, text)
        return redirect(redirect_to)
    template, context = fragment(outcome)
    response = render(request, template, context, status=200 if outcome.ok else 422)
    if outcome.ok:
        trigger_client_event(response, "toast", {"message": text, "level": "success"})
        if swap_into:
            response = reswap(retarget(response, swap_into), "outerHTML")
    return response
