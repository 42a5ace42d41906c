"""Money tests call the sandbox gateway after real commits (a gateway call is never made inside a transaction), so
most of them run on `transactional_db`; `money_db` also restores what the flush between such tests removes."""

import pytest


@pytest.fixture
def money_db(transactional_db):
    from portal.roles import sync_roles

    sync_roles()  # the flush after a transactional test removes the groups the data migration made


@pytest.fixture
def people(money_db):
    from tests.factories import UserFactory

    return (UserFactory(username="ann", role="Agent"), UserFactory(username="max", role="Manager"),
            UserFactory(username="mia", role="Manager"))
