"""Bearer tokens: created once with a visible secret, stored hashed, revocable; session writes need CSRF."""

import pytest
from django.test import Client

from portal.models import ApiToken, AuditEvent
from portal.services import api_token_create


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


@pytest.mark.django_db
def test_settings_page_creates_a_token_and_shows_the_secret_once(agent, client_for):
    client = client_for(agent)
    response = client.post("/settings/tokens/", {"name": "Helpdesk"}, follow=True)
    token = ApiToken.objects.get(user=agent)
    assert "Copy it now" in response.content.decode()
    assert token.hint in response.content.decode()
    assert "Copy it now" not in client.get("/settings/").content.decode()
    event = AuditEvent.objects.get(action="portal.api_token.created")
    assert event.request_id, "the request id ties the audit row to the request's log lines"
    assert secret_not_logged(event, token)


def secret_not_logged(event, token):
    return all(token.key_hash not in str(value) for value in (event.data, event.before, event.after))


@pytest.mark.django_db
def test_blank_token_name_is_refused_and_creates_nothing(agent, client_for):
    response = client_for(agent).post("/settings/tokens/", {"name": "  "}, follow=True)
    assert "Give the token a name" in response.content.decode()
    assert not ApiToken.objects.exists()


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
