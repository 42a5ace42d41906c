"""Server-side permission checks. One mechanism: capabilities from portal/roles.py, declared once per view.

A view declares its capability once, with `require_capability` (pages) or `api_view(capability=…)` (API). The
declaration checks the role before the view runs (403 for everyone without it, so nobody learns which ids exist)
and records the capability on the request. Load helpers (`access_customer`, `access_invoice`, …) then only look
the object up (404 for an unknown id); they refuse to run for a view that declared nothing.
"""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import ImproperlyConfigured, PermissionDenied

from portal.roles import has_capability


def check_capability(user, capability: str) -> None:
    """Raise PermissionDenied (a 403 page, or a 403 JSON error in the API) unless `user`'s role grants it."""
    if not has_capability(user, capability):
        raise PermissionDenied(f"Your role does not allow this ({capability}).")


def grant(request, capability: str) -> None:
    """Check the view's declared capability and record it on the request for the load helpers."""
    check_capability(request.user, capability)
    request.granted_capability = capability


def granted(request) -> str:
    """The capability the view declared and the user holds; load helpers call this before any lookup."""
    capability = getattr(request, "granted_capability", None)
    if capability is None:
        raise ImproperlyConfigured("This view loads customer data without declaring a capability "
                                   "(require_capability or api_view(capability=…)).")
    return capability


def require_capability(capability: str):
    """View decorator: 403 unless the signed-in user's role grants `capability` (login is enforced globally)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            grant(request, capability)
            return view(request, *args, **kwargs)

        wrapped.required_capability = capability
        return wrapped

    return decorator
