"""Fixtures for the subscription tests: the money fixtures (charges reach the sandbox gateway after real commits),
the plan catalogue, and for the billing jobs `billing_db`: committed data with the email templates the jobs send
put back after the flush of an earlier transactional test."""

import importlib

import pytest

from tests.payments.conftest import money_db, people  # noqa: F401 (fixtures)


@pytest.fixture
def plans(db):
    from tests.subscriptions.factories import catalogue

    return catalogue()


@pytest.fixture
def ann(money_db):  # noqa: F811 (the fixture above)
    """An agent, for tests that commit (the `agent` persona's groups would be flushed between them)."""
    from tests.factories import UserFactory

    return UserFactory(username="ann", role="Agent")


def restore_billing_templates() -> None:
    """The dunning emails (support migration 0007) and the card-update link email (0006)."""
    from django.apps import apps

    importlib.import_module("support.migrations.0006_card_update_template").add_template(apps, None)
    importlib.import_module("support.migrations.0007_dunning_templates").add_templates(apps, None)


@pytest.fixture
def billing_db(money_db):  # noqa: F811 (the fixture above)
    restore_billing_templates()
