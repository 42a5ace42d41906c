"""Server-side permission checks for pages. One mechanism: capabilities from portal/roles.py."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied

from portal.roles import has_capability


def check_capability(user, capability: str) -> None:
    """Raise PermissionDenied (a 403 page, or a 403 JSON error in the API) unless `user`'s role grants it."""
    if not has_capability(user, capability):
        raise PermissionDenied(f"Your role does not allow this ({capability}).")


def require_capability(capability: str):
    """View decorator: 403 unless the signed-in user's role grants `capability` (login is enforced globally)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            check_capability(request.user, capability)
            return view(request, *args, **kwargs)

        wrapped.required_capability = capability
        return wrapped

    return decorator
