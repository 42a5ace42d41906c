"""The JSON API's plumbing: authentication (session or bearer token), capability checks, error bodies,
Idempotency-Key replay. Endpoints are plain functions wrapped in `api_view`; they call the same selectors and
services as the pages.
"""

from __future__ import annotations

import json
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
from portal.models import ApiToken
from portal.roles import has_capability

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
TOKEN_TOUCH_SECONDS = 60  # last_used_at is refreshed at most once a minute


def error_response(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def money(amount: int, currency: str) -> dict:
    return {"amount": amount, "currency": currency}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def json_body(request) -> dict:
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return data


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


def api_view(*, methods: tuple[str, ...] = ("GET",), capability: str | None = None):
    """Wrap a JSON endpoint: auth, method, capability, errors as JSON, Idempotency-Key, source = "api"."""

    def decorator(view):
        @csrf_exempt
        @login_not_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            bearer = _authenticate_bearer(request)
            if bearer in BEARER_ERRORS:
                return error_response(401, *BEARER_ERRORS[bearer])
            if not request.user.is_authenticated:
                return error_response(401, "not_authenticated", "Sign in or send 'Authorization: Bearer <token>'.")
            if request.method not in methods:
                response = error_response(405, "method_not_allowed", f"Use {' or '.join(methods)}.")
                response["Allow"] = ", ".join(methods)
                return response
            if bearer is None and request.method in WRITE_METHODS and _csrf_failure(request) is not None:
                return error_response(403, "csrf_failed", "Send the CSRF token in the X-CSRFToken header.")
            if capability and not has_capability(request.user, capability):
                return error_response(403, "forbidden", "Your role does not allow this.")

            def run():
                try:
                    with action_source("api"):
                        return view(request, *args, **kwargs)
                except ApiError as exc:
                    return error_response(exc.status, exc.code, exc.message)
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
                    return idempotency.run_once(request, run)
                except ApiError as exc:
                    return error_response(exc.status, exc.code, exc.message)
            return run()

        wrapped.required_capability = capability
        return wrapped

    return decorator
