"""The page frame: the shortcuts dialog lists every key the sidebar shows, and the favicon is there."""

import re

import pytest

from portal.context_processors import NAVIGATION

pytestmark = pytest.mark.django_db


def _sidebar_and_dialog_keys(body: str) -> tuple[list[str], set[str]]:
    sidebar = re.findall(r'data-shortcut="([^"]+)"', body)
    dialog = body[body.index('<dialog id="shortcuts-dialog"'):]
    listed = {keys for group in re.findall(r'<dt data-keys="([^"]+)"', dialog) for keys in group.split("|")}
    hints = re.findall(r'<kbd class="shortcut-hint">([^<]+)</kbd>', body)
    assert hints == sidebar  # the hint shown is the key portal.js answers
    return sidebar, listed


@pytest.mark.parametrize("persona", ["agent", "manager", "admin_user", "viewer"])
def test_the_shortcuts_dialog_lists_every_key_the_sidebar_shows(request, client_for, persona):
    body = client_for(request.getfixturevalue(persona)).get("/settings/").content.decode()
    sidebar, listed = _sidebar_and_dialog_keys(body)
    assert sidebar and set(sidebar) <= listed
    assert {"/", "Ctrl+K", "?", "Enter", "Esc"} <= listed


def test_a_manager_sees_and_is_told_about_the_audit_log_key(client_for, manager):
    sidebar, listed = _sidebar_and_dialog_keys(client_for(manager).get("/customers/").content.decode())
    assert "g l" in sidebar and "g l" in listed


def test_every_sidebar_entry_has_its_own_shortcut_and_icon():
    from django.template.loader import get_template

    shortcuts = [entry.shortcut for entry in NAVIGATION]
    assert len(set(shortcuts)) == len(shortcuts) and all(re.fullmatch(r"g \S", key) for key in shortcuts)
    icons = get_template("partials/icons.html").template.source
    assert all(f'id="icon-{entry.icon}"' in icons for entry in NAVIGATION)


def test_favicon_ico_leads_to_the_icon_the_pages_link(client, agent_client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/portal/favicon.svg"
    icon = client.get(response["Location"])
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content if icon.streaming else [icon.content])
    assert '<link rel="icon" href="/static/portal/favicon.svg" type="image/svg+xml">' in \
        agent_client.get("/settings/").content.decode()


def test_the_approvals_count_costs_no_query_on_the_page(client_for, agent, manager):
    """Managers' sidebar loads its count of waiting requests after the page (htmx), so a manager's page costs the
    queries an agent's does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for user in (agent, manager):
        client = client_for(user)
        client.get("/settings/")
        with CaptureQueriesContext(connection) as queries:
            body = client.get("/settings/").content.decode()
        counts[user.username] = len(queries)
        assert ('hx-get="/approvals/badge/"' in body) == (user is manager)
    assert counts["agent"] == counts["manager"]
