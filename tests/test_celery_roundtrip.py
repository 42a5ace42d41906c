"""A task goes through a real broker to a real worker process and its result comes back.

The embedded broker (kombu's SQLAlchemy transport on our Postgres) runs in `make test`; the Redis round trip is
an integration test that `.ci/run` runs against the machine's Redis.
"""

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from celery import Celery
from celery.result import allow_join_result

from portal.broker import broker_urls
from tests.helpers import ROOT, subprocess_env


@pytest.fixture
def test_db_broker_urls(django_db_blocker):
    from django.db import connection

    return broker_urls("", connection.settings_dict)


def _round_trip(broker: str, backend: str) -> dict:
    env = subprocess_env(CELERY_BROKER_URL=broker, CELERY_RESULT_BACKEND=backend, CELERY_TASK_ALWAYS_EAGER="0")
    queue = f"roundtrip-{uuid.uuid4().hex[:8]}"  # a private queue: no other worker can take the task
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "-Q", queue,
         "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
        cwd=ROOT, env=env,
    )
    producer = Celery("roundtrip-test", broker=broker, backend=backend)
    try:
        result = producer.send_task("portal.ping", args=["hello"], queue=queue)
        # Eager tasks sent from two threads at once (the concurrency tests) can leave Celery's process-wide "inside
        # a task" flag set (its save/restore is not thread-safe); this test is not inside a task.
        with allow_join_result():
            return result.get(timeout=120)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        producer.close()
        _close_other_connections()


def _close_other_connections() -> None:
    """The producer's SQLAlchemy pools keep connections to the test database; close them so it can be dropped."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def test_broker_is_postgres_without_redis_and_redis_when_configured():
    db = {"NAME": "portal", "USER": "postgres", "HOST": "/srv/pg", "PORT": ""}
    assert broker_urls("", db) == ("sqla+postgresql+psycopg://postgres@/portal?host=/srv/pg",
                                   "db+postgresql+psycopg://postgres@/portal?host=/srv/pg")
    assert broker_urls("redis://r:6379/0", db) == ("redis://r:6379/0", "redis://r:6379/0")


@pytest.mark.django_db(transaction=True)
def test_task_round_trips_through_the_embedded_postgres_broker(test_db_broker_urls):
    broker, backend = test_db_broker_urls
    assert broker.startswith("sqla+postgresql")
    result = _round_trip(broker, backend)
    assert result["echo"] == "hello"
    assert result["postgres"] >= 150000
    assert result["database_user"] == settings.DATABASES["default"]["USER"]  # the application role, not the owner


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_task_round_trips_through_redis():
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    result = _round_trip(redis_url, redis_url)
    assert result["echo"] == "hello"
