"""Kernel writes: API tokens."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from portal.audit import audit_record
from portal.errors import DomainError
from portal.models import ApiToken

MAX_ACTIVE_TOKENS = 10


@transaction.atomic
def api_token_create(*, user, name: str, actor, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns it with its secret, which is shown once and never stored.

    `expires_in_days` None makes a token that lives until it is revoked.
    """
    name = name.strip()
    if not name:
        raise DomainError("Give the token a name, so you can recognise it later.", code="invalid")
    if expires_in_days is not None and expires_in_days < 1:
        raise DomainError("A token must live at least one day (or leave out the expiry).", code="invalid")
    if ApiToken.objects.active().filter(user=user).count() >= MAX_ACTIVE_TOKENS:
        raise DomainError(f"You already have {MAX_ACTIVE_TOKENS} active tokens; revoke one first.",
                          code="too_many_tokens")
    secret = ApiToken.new_secret()
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days is not None else None
    token = ApiToken.objects.create(user=user, name=name[:80], key_hash=ApiToken.hash_secret(secret),
                                    hint=secret[:10], expires_at=expires_at)
    audit_record(actor=actor, action="portal.api_token.created", obj=token,
                 data={"user": user.get_username(), "name": token.name, "hint": token.hint,
                       "expires_at": expires_at.isoformat() if expires_at else None})
    return token, secret


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor) -> ApiToken:
    token = ApiToken.objects.select_for_update(no_key=True).get(pk=token.pk)
    if token.revoked_at is not None:
        raise DomainError("This token was already revoked.", code="already_revoked")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="portal.api_token.revoked", obj=token,
                 data={"user": token.user.get_username(), "name": token.name, "hint": token.hint})
    return token
