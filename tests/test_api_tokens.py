"""Bearer tokens: created once (password again) with a visible secret, stored hashed, expiring, revocable."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages.storage.cookie import CookieStorage, MessageSerializer
from django.contrib.sessions.models import Session
from django.core import signing
from django.test import Client
from django.utils import timezone

from portal.models import ApiToken, AuditEvent
from portal.services import api_token_create

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory


@pytest.mark.django_db
def test_token_authenticates_as_its_owner_with_the_owner_role(agent, api_client_for):
    body = api_client_for(agent).get("/api/v1/me").json()
    assert body["username"] == "agent"
    assert body["role"] == "Agent"
    assert "view_customers" in body["capabilities"] and "approve_requests" not in body["capabilities"]


@pytest.mark.django_db
def test_only_a_hash_of_the_secret_is_stored(agent):
    token, secret = api_token_create(user=agent, name="zapier", actor=agent)
    assert secret not in {token.key_hash, token.hint}
    assert ApiToken.objects.get(pk=token.pk).key_hash == ApiToken.hash_secret(secret)
    assert AuditEvent.objects.filter(action="portal.api_token.created", actor=agent).count() == 1


@pytest.mark.django_db
def test_invalid_and_revoked_tokens_get_401(agent, client_for):
    assert Client(headers={"Authorization": "Bearer nope"}).get("/api/v1/me").status_code == 401
    token, secret = api_token_create(user=agent, name="old", actor=agent)
    response = client_for(agent).post(f"/settings/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    revoked = Client(headers={"Authorization": f"Bearer {secret}"}).get("/api/v1/me")
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "invalid_token"


def _create(client, **fields):
    return client.post("/settings/tokens/", {"name": "Helpdesk", "expires_in": "90", "password": PASSWORD, **fields})


def _shown_secret(response) -> str:
    match = re.search(r'id="new-token-secret"[^>]*value="(cpt_[^"]+)"', response.content.decode())
    assert match, "the new secret is shown in a copyable field"
    return match.group(1)


def _readable(value: str) -> str:
    """A cookie's value as anyone holding it can read it: signed message cookies are decoded, not only hashed."""
    try:
        messages = signing.get_cookie_signer(salt=CookieStorage.key_salt).unsign_object(
            value, serializer=MessageSerializer)
    except signing.BadSignature:
        return value
    return value + " ".join(str(message) for message in messages or [])


@pytest.mark.django_db
def test_settings_page_creates_a_token_and_shows_the_secret_once(agent, client_for):
    client = client_for(agent)
    response = _create(client)
    assert response.status_code == 200, "the secret is on the page that answers the POST, not behind a redirect"
    token = ApiToken.objects.get(user=agent)
    secret = _shown_secret(response)
    assert ApiToken.hash_secret(secret) == token.key_hash
    body = response.content.decode()
    assert body.count(secret) == 1
    assert "Copy it now" in body
    assert "Copy it now" not in client.get("/settings/").content.decode()
    assert secret not in client.get("/settings/").content.decode()
    event = AuditEvent.objects.get(action="portal.api_token.created")
    assert event.request_id, "the request id ties the audit row to the request's log lines"
    assert secret_not_logged(event, token)


@pytest.mark.django_db
def test_the_new_secret_is_in_no_cookie_and_no_session(agent, client_for):
    client = client_for(agent)
    response = _create(client)
    secret = _shown_secret(response)
    cookies = [*response.cookies.values(), *client.cookies.values()]
    assert all(secret not in _readable(morsel.value) for morsel in cookies)
    assert secret not in str(dict(client.session.items()))
    for stored in Session.objects.all():
        assert secret not in stored.session_data and secret not in str(stored.get_decoded())
    assert secret not in client.get("/settings/").content.decode()  # nor in a message shown on the next page


def secret_not_logged(event, token):
    return all(token.key_hash not in str(value) for value in (event.data, event.before, event.after))


@pytest.mark.django_db
def test_blank_token_name_is_refused_and_creates_nothing(agent, client_for):
    response = _create(client_for(agent), name="  ")
    assert "Give the token a name" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_creating_a_token_asks_for_the_password_again(agent, client_for):
    client = client_for(agent)
    wrong = _create(client, password="not-my-password")
    assert wrong.status_code == 200
    assert "That is not your password. No token was created." in wrong.content.decode()
    assert 'id="new-token-secret"' not in wrong.content.decode()
    assert _create(client, password="").status_code == 200
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action="portal.api_token.created").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("choice, days", [("30", 30), ("90", 90), ("365", 365), ("never", None)])
def test_the_form_sets_the_expiry(agent, client_for, choice, days):
    response = _create(client_for(agent), expires_in=choice)
    token = ApiToken.objects.get(user=agent)
    if days is None:
        assert token.expires_at is None
        assert "It does not expire." in response.content.decode()
    else:
        expected = timezone.now() + timedelta(days=days)
        assert abs((token.expires_at - expected).total_seconds()) < 60
        assert f"It expires on {token.expires_at:%Y-%m-%d}." in response.content.decode()


@pytest.mark.django_db
def test_an_unknown_expiry_is_refused(agent, client_for):
    response = _create(client_for(agent), expires_in="10000")
    assert "Select a valid choice" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_expired_tokens_get_401_token_expired(agent):
    token, secret = api_token_create(user=agent, name="short", actor=agent, expires_in_days=30)
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    assert client.get("/api/v1/me").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


@pytest.mark.django_db
def test_active_tokens_are_neither_revoked_nor_expired(agent):
    never, _ = api_token_create(user=agent, name="never", actor=agent)
    later, _ = api_token_create(user=agent, name="later", actor=agent, expires_in_days=1)
    gone, _ = api_token_create(user=agent, name="gone", actor=agent, expires_in_days=1)
    revoked, _ = api_token_create(user=agent, name="revoked", actor=agent)
    ApiToken.objects.filter(pk=gone.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    assert set(ApiToken.objects.active()) == {never, later}


@pytest.mark.django_db
def test_settings_page_shows_each_tokens_expiry(agent, client_for):
    soon, _ = api_token_create(user=agent, name="soon", actor=agent, expires_in_days=30)
    old, _ = api_token_create(user=agent, name="old", actor=agent, expires_in_days=30)
    api_token_create(user=agent, name="forever", actor=agent)
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=1))
    body = client_for(agent).get("/settings/").content.decode()
    assert f"<td>{soon.expires_at:%Y-%m-%d}</td>" in body
    assert "<td>never</td>" in body
    assert "Expired</span>" in body


@pytest.mark.django_db
def test_users_cannot_revoke_tokens_of_others(agent, manager, client_for):
    token, _ = api_token_create(user=manager, name="mine", actor=manager)
    assert client_for(agent).post(f"/settings/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


@pytest.mark.django_db
def test_token_views_refuse_get(agent, client_for):
    assert client_for(agent).get("/settings/tokens/").status_code == 405


@pytest.mark.django_db
def test_api_token_command_prints_a_working_token(agent, capsys):
    from django.core.management import call_command

    call_command("api_token", "agent", "--name", "cli")
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert Client(headers={"Authorization": f"Bearer {secret}"}).get("/api/v1/me").status_code == 200


@pytest.mark.django_db
def test_api_token_command_sets_an_expiry_with_days(agent, capsys):
    from django.core.management import call_command

    call_command("api_token", "agent", "--name", "cli", "--days", "7")
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    token = ApiToken.objects.get(key_hash=ApiToken.hash_secret(secret))
    assert abs((token.expires_at - timezone.now() - timedelta(days=7)).total_seconds()) < 60
    call_command("api_token", "agent", "--name", "cli forever")
    assert ApiToken.objects.get(name="cli forever").expires_at is None
