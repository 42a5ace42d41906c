"""Roles reach what they may and get 403 elsewhere; anonymous users are sent to login; login is throttled."""

import pytest
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver

from portal.roles import ROLE_CAPABILITIES, Cap, has_capability

# Views any signed-in user may open (their own settings, sign-out) or that need no login at all.
OPEN_TO_ANY_SIGNED_IN_USER = {"home", "logout", "portal:settings", "portal:api_token_create",
                              "portal:api_token_revoke", "api_me"}
# card_links:page: the customer's card-update page, reached from an emailed link whose signed token is the permission;
# the webhook checks Stripe's signature instead.
PUBLIC = {"login", "healthz", "favicon", "card_links:page", "webhooks:stripe"}


def _named_patterns(resolver=None, namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue  # Django's admin has its own staff checks
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _named_patterns(entry, ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry.callback


def test_every_view_declares_the_capability_it_needs():
    """One mechanism: each view is wrapped by require_capability / api_view, or is knowingly open."""
    undeclared = [
        name for name, callback in _named_patterns()
        if name not in OPEN_TO_ANY_SIGNED_IN_USER | PUBLIC and not getattr(callback, "required_capability", None)
    ]
    assert undeclared == []


@pytest.mark.django_db
def test_groups_hold_exactly_their_capabilities():
    for role, caps in ROLE_CAPABILITIES.items():
        codenames = set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))
        assert codenames == set(caps)


def test_manager_adds_approvals_and_audit_and_admin_adds_configuration():
    agent, manager, admin = (set(ROLE_CAPABILITIES[r]) for r in ("Agent", "Manager", "Admin"))
    assert agent < manager < admin
    assert Cap.APPROVE_REQUESTS not in agent and Cap.APPROVE_REQUESTS in manager
    assert admin - manager == {Cap.CONFIGURE}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/customers/", "/audit/", "/settings/"])
def test_anonymous_users_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/accounts/login/?next={path}")


@pytest.mark.django_db
def test_anonymous_api_calls_get_401_json(client):
    response = client.get("/api/v1/customers")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "persona, path, expected",
    [
        ("agent", "/customers/", 200),
        ("agent", "/audit/", 403),
        ("agent", "/settings/", 200),
        ("manager", "/customers/", 200),
        ("manager", "/audit/", 200),
        ("admin_user", "/audit/", 200),
        ("admin_user", "/customers/", 200),
        ("outsider", "/customers/", 403),
        ("outsider", "/audit/", 403),
    ],
)
def test_role_matrix_for_pages(request, client_for, persona, path, expected):
    user = request.getfixturevalue(persona)
    assert client_for(user).get(path).status_code == expected


@pytest.mark.django_db
def test_role_matrix_for_the_api(agent, outsider, api_client_for):
    assert api_client_for(agent).get("/api/v1/customers").status_code == 200
    forbidden = api_client_for(outsider).get("/api/v1/customers")
    assert forbidden.status_code == 403
    assert forbidden.json() == {"error": {"code": "forbidden", "message": "Your role does not allow this."}}


@pytest.mark.django_db
def test_sidebar_shows_only_what_the_role_may_open(agent, manager, client_for):
    assert b'href="/audit/"' not in client_for(agent).get("/customers/").content
    assert b'href="/audit/"' in client_for(manager).get("/customers/").content


@pytest.mark.django_db
def test_inactive_users_have_no_capabilities(agent):
    agent.is_active = False
    assert not has_capability(agent, Cap.VIEW_CUSTOMERS)


@pytest.mark.django_db
def test_login_page_signs_in_and_redirects(client, agent):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "agent", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.get("/customers/").status_code == 200


@pytest.mark.django_db
def test_login_is_locked_after_repeated_failures(client, agent, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "agent", "password": "wrong"})
    locked = client.post("/accounts/login/", {"username": "agent", "password": "correct-horse-battery"})
    assert locked.status_code == 429
    assert b"Too many failed sign-in attempts" in locked.content
    assert client.get("/customers/").status_code == 302  # still signed out


@pytest.mark.django_db
def test_idle_session_expires(client_for, agent):
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    client = client_for(agent)
    assert client.get("/customers/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timezone.timedelta(seconds=1))
    assert client.get("/customers/").status_code == 302


@pytest.mark.django_db
def test_sessions_slide_with_activity_but_are_not_written_on_every_request(client_for, agent, settings):
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from portal.middleware import SlidingSessionMiddleware

    assert settings.SESSION_COOKIE_AGE == 30 * 60
    client = client_for(agent)
    client.get("/customers/")
    first_expiry = Session.objects.get().expire_date
    client.get("/customers/")  # within the slide interval: no write
    assert Session.objects.get().expire_date == first_expiry

    # The last slide is older than the interval (and the stored expiry is about to run out): the next request
    # pushes the expiry a whole idle window forward.
    session = client.session
    session[SlidingSessionMiddleware.KEY] -= settings.SESSION_SLIDE_SECONDS + 1
    session.save()
    Session.objects.update(expire_date=timezone.now() + timezone.timedelta(seconds=30))
    assert client.get("/customers/").status_code == 200
    assert Session.objects.get().expire_date > timezone.now() + timezone.timedelta(minutes=29)


@pytest.mark.django_db
def test_logout_requires_post_and_signs_out(client_for, agent):
    client = client_for(agent)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/customers/").status_code == 302
