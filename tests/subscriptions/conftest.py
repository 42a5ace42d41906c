"""The billing jobs charge through the sandbox gateway after real commits: their tests run on committed data
(`billing_db`, transactional), with the email templates the jobs send put back after the flush of an earlier
transactional test."""

import importlib

import pytest

from tests.payments.conftest import money_db, people  # noqa: F401 (fixtures)


def restore_billing_templates() -> None:
    """The dunning emails (support migration 0007) and the card-update link email (0006)."""
    from django.apps import apps

    importlib.import_module("support.migrations.0006_card_update_template").add_template(apps, None)
    importlib.import_module("support.migrations.0007_dunning_templates").add_templates(apps, None)


@pytest.fixture
def billing_db(money_db):  # noqa: F811 (the fixture above)
    restore_billing_templates()
