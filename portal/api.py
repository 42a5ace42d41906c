"""The JSON API's plumbing: authentication (session or bearer token), capability checks, error bodies,
Idempotency-Key replay. Endpoints are plain functions wrapped in `api_view`; they call the same selectors and
services as the pages.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from portal import idempotency
from portal.context import action_source
from portal.errors import ApiError, DomainError
from portal.inputs import InvalidInput, has_forbidden_character
from portal.models import ApiToken
from portal.roles import has_capability

API_PREFIX = "/api/"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
TOKEN_TOUCH_SECONDS = 60  # last_used_at is refreshed at most once a minute
# Request bodies are flat objects with a few small lists or objects inside; anything deeper is not a request.
JSON_MAX_DEPTH = 16


def is_api_request(request) -> bool:
    return request.path.startswith(API_PREFIX)


def error_response(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def money(amount: int, currency: str) -> dict:
    return {"amount": amount, "currency": currency}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999 parses as infinity
        raise ValueError(text)
    return number


def _refuse_constant(name: str):
    raise ValueError(name)  # NaN, Infinity and -Infinity are not JSON, though Python's parser accepts them


def _check_json(data) -> None:
    """Depth and characters of a parsed body, walked without recursion (a hostile body may nest deeply)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > JSON_MAX_DEPTH:
            raise ApiError(400, "invalid_json", f"The request body nests deeper than {JSON_MAX_DEPTH} levels.")
        if isinstance(value, dict):
            for key, item in value.items():
                if has_forbidden_character(key):
                    raise InvalidInput()
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and has_forbidden_character(value):
            raise InvalidInput()


def json_body(request) -> dict:
    """The body as a JSON object, checked like every other input (portal/inputs.py): 400 when it is not one.

    api_view has read the body already (a body over the upload limit is a 413 before the endpoint runs).
    """
    raw = request.body
    if not raw:
        return {}
    try:
        data = json.loads(raw, parse_float=_finite, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    _check_json(data)
    return data


def json_fields(body: dict, allowed: set[str], required: set[str]) -> None:
    """400 for a field the endpoint does not take, or one it needs that is missing."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown fields: {', '.join(unknown)}. Send {', '.join(sorted(allowed))}.")
    missing = sorted(required - set(body))
    if missing:
        raise ApiError(400, "missing_field", f"Missing: {', '.join(missing)}.")


# What a bearer header that does not authenticate gets: _authenticate_bearer's answer → 401 error code, message.
BEARER_ERRORS = {
    "invalid": ("invalid_token", "The API token is invalid or revoked."),
    "expired": ("token_expired", "The API token has expired; create a new one on the Settings page."),
}


def _authenticate_bearer(request) -> str | None:
    """None when no bearer header is sent; otherwise "ok" (request.user is the token's owner) or a BEARER_ERRORS key."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Bearer "):
        return None
    secret = header.removeprefix("Bearer ").strip()
    token = (ApiToken.objects.filter(revoked_at__isnull=True).select_related("user")
             .filter(key_hash=ApiToken.hash_secret(secret)).first())
    if token is None or not token.user.is_active:
        return "invalid"
    if token.is_expired:
        return "expired"
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > TOKEN_TOUCH_SECONDS:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    request.user = token.user
    return "ok"


def _csrf_failure(request):
    """Session-authenticated writes must carry the CSRF token (X-CSRFToken), exactly like the pages."""
    check = CsrfViewMiddleware(lambda req: None)
    return check.process_view(request, None, (), {})


def api_view(*, methods: tuple[str, ...] = ("GET",), capability: str | dict[str, str] | None = None,
             commits_in_steps: bool = False):
    """Wrap a JSON endpoint: auth, method, capability, errors as JSON, Idempotency-Key, source = "api".

    `commits_in_steps`: the endpoint commits more than once (it calls a payment gateway between its intent and its
    outcome), so Idempotency-Key must not wrap it in one transaction (portal/idempotency.py says how it stays once).

    `capability` is the endpoint's one declaration (portal/access.py): one for every method, or one per method
    (`{"GET": Cap.VIEW_CUSTOMERS, "PATCH": Cap.EDIT_CUSTOMERS}`). 403 before the endpoint runs without it. None:
    open to any signed-in user (and then no load helper may be used).
    """

    def decorator(view):
        @csrf_exempt
        @login_not_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            # The raw body first: once a form body is parsed (the session CSRF check does) it cannot be read again.
            # Over DATA_UPLOAD_MAX_MEMORY_SIZE this raises RequestDataTooBig: 413 too_large (portal.error_views).
            request.body  # noqa: B018
            bearer = _authenticate_bearer(request)
            if bearer in BEARER_ERRORS:
                return error_response(401, *BEARER_ERRORS[bearer])
            if not request.user.is_authenticated:
                return error_response(401, "not_authenticated", "Sign in or send 'Authorization: Bearer <token>'.")
            # A bearer token is a credential of its own: endpoints that ask a browser session for the password
            # again (approving a sudo kind, portal/approvals.py) do not ask a token.
            request.token_authenticated = bearer == "ok"
            if request.method not in methods:
                response = error_response(405, "method_not_allowed", f"Use {' or '.join(methods)}.")
                response["Allow"] = ", ".join(methods)
                return response
            if bearer is None and request.method in WRITE_METHODS and _csrf_failure(request) is not None:
                return error_response(403, "csrf_failed", "Send the CSRF token in the X-CSRFToken header.")
            needed = capability[request.method] if isinstance(capability, dict) else capability
            if needed is not None:
                if not has_capability(request.user, needed):
                    return error_response(403, "forbidden", "Your role does not allow this.")
                request.granted_capability = needed

            def run():
                try:
                    with action_source("api"):
                        return view(request, *args, **kwargs)
                except ApiError as exc:
                    return error_response(exc.status, exc.code, exc.message)
                except InvalidInput as exc:
                    return error_response(400, exc.code, exc.message)
                except DomainError as exc:
                    return error_response(exc.status, exc.code, exc.message)
                except ValidationError as exc:
                    return error_response(400, "invalid", " ".join(exc.messages))
                except Http404 as exc:
                    return error_response(404, "not_found", str(exc) or "Not found.")
                except PermissionDenied as exc:
                    return error_response(403, "forbidden", str(exc) or "Your role does not allow this.")

            if request.method in WRITE_METHODS and idempotency.HEADER in request.headers:
                try:
                    return idempotency.run_once(request, run, commits_in_steps=commits_in_steps)
                except ApiError as exc:
                    return error_response(exc.status, exc.code, exc.message)
            return run()

        wrapped.required_capability = capability
        return wrapped

    return decorator
