"""Settings for the test suite: the portal's own, with PORTAL_TESTING on (fast password hasher, in-memory email,
eager Celery, one test database per pytest process). It must be set before portal.settings is read, which
pytest-django does before any conftest runs. Subprocesses started by tests may turn it off in their environment."""

import os

os.environ.setdefault("PORTAL_TESTING", "1")

from portal.settings import *  # noqa: E402,F403

# Eager tasks in unit tests; their results stay in memory, so no test touches the development database's broker
# tables (the settings above point Celery at DATABASES["default"] before pytest-django renames it to the test
# database). Tests of the real broker build their own URLs (tests/test_celery_roundtrip.py).
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"
# Stripe's webhook checks signatures against this (the route walks reach its signature check, not a refusal
# for want of a secret); tests of the Stripe gateway point it at a localstripe server (tests/payments/conftest.py).
STRIPE_WEBHOOK_SECRET = "whsec_tests"
