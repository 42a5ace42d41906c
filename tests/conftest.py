"""Shared fixtures: role personas, an API client with a bearer token, browser launch settings."""

import os

os.environ.setdefault("PORTAL_TESTING", "1")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API next to live_server

import pytest
from django.test import Client

from tests.factories import UserFactory


@pytest.fixture(scope="session", autouse=True)
def _owner_creates_and_flushes_test_databases():
    """The tests run as the application role, like every process of the portal (portal/db_roles.py). Creating and
    dropping the test database and the flush after a transactional test (TRUNCATE of every table) are the owner's
    work, which the application role may not do."""
    from django.core.management.commands import flush
    from django.db.backends.base.creation import BaseDatabaseCreation

    from portal.db_roles import as_owner

    create, destroy, handle = (BaseDatabaseCreation.create_test_db, BaseDatabaseCreation.destroy_test_db,
                               flush.Command.handle)

    def create_as_owner(self, *args, **kwargs):
        with as_owner(self.connection.alias):
            return create(self, *args, **kwargs)

    def destroy_as_owner(self, *args, **kwargs):
        with as_owner(self.connection.alias):
            return destroy(self, *args, **kwargs)

    def flush_as_owner(self, **options):
        with as_owner(options["database"]):
            return handle(self, **options)

    BaseDatabaseCreation.create_test_db, BaseDatabaseCreation.destroy_test_db = create_as_owner, destroy_as_owner
    flush.Command.handle = flush_as_owner
    yield
    BaseDatabaseCreation.create_test_db, BaseDatabaseCreation.destroy_test_db = create, destroy
    flush.Command.handle = handle


@pytest.fixture
def owner_role():
    """Run the test connected as the owner role (request it before `db`): for tests of schema work, such as
    the demo bulk loader, that the application role may not do."""
    from portal.db_roles import as_owner

    with as_owner():
        yield


@pytest.fixture(autouse=True)
def fresh_directory_lookups():
    """The directory's lookups are shared by a process's requests; a test must not see another test's plans."""
    from customers.selectors.directory import DirectoryLookups

    DirectoryLookups.forget()
    yield
    DirectoryLookups.forget()


@pytest.fixture
def approval_kinds():
    """The test-only kinds of approval request (tests/approval_kinds.py), registered for the test."""
    from tests.approval_kinds import register_kinds, unregister_kinds

    register_kinds()
    yield
    unregister_kinds()


def _persona(role):
    return UserFactory(username=role.lower(), role=role)


@pytest.fixture
def agent(db):
    return _persona("Agent")


@pytest.fixture
def manager(db):
    return _persona("Manager")


@pytest.fixture
def admin_user(db):
    return _persona("Admin")


@pytest.fixture
def outsider(db):
    """Signed in, but holds no role."""
    return UserFactory(username="outsider", role=None)


@pytest.fixture
def viewer(db):
    """A read-only role (not one of the three built-in ones): may read customers, not edit them."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name="Read-only")
    group.permissions.set([Permission.objects.get(codename="view_customers")])
    user = UserFactory(username="viewer")
    user.groups.add(group)
    return user


@pytest.fixture
def client_for():
    """client_for(user) → a test client signed in as that user."""

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def agent_client(agent, client_for):
    return client_for(agent)


@pytest.fixture
def api_client_for():
    """api_client_for(user) → a client that sends `Authorization: Bearer <token>` for that user."""
    from portal.services import api_token_create

    def make(user):
        _, secret = api_token_create(user=user, name="tests", actor=user)
        return Client(headers={"Authorization": f"Bearer {secret}"})

    return make


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium: Playwright never downloads a browser here."""
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"],
    }
