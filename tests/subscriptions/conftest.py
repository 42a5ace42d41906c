"""Fixtures for the subscription tests: the money fixtures (charges reach the sandbox gateway after real commits)
and the plan catalogue."""

import pytest

from tests.payments.conftest import money_db  # noqa: F401 (a fixture)


@pytest.fixture
def plans(db):
    from tests.subscriptions.factories import catalogue

    return catalogue()


@pytest.fixture
def ann(money_db):
    """An agent, for tests that commit (the `agent` persona's groups would be flushed between them)."""
    from tests.factories import UserFactory

    return UserFactory(username="ann", role="Agent")

