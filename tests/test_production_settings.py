"""Production refuses to start unsafe: default secret, DEBUG on, demo users; `check --deploy` is clean when set up."""

import subprocess

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.checks import production_safety, refuse_unsafe_production_start
from tests.factories import UserFactory
from tests.helpers import ROOT, manage_command, subprocess_env

GOOD_SECRET = "p" * 20 + "-long-random-production-secret-value-0123456789"


def _check(**env):
    return _manage("check", "--deploy", "--fail-level", "WARNING", **env)


def _manage(*args, **env):
    return subprocess.run(manage_command(*args), cwd=ROOT, env=subprocess_env(**env), capture_output=True,
                          text=True, timeout=120)


@pytest.mark.django_db(transaction=True)
def test_check_deploy_is_clean_with_production_settings():
    result = _check(DJANGO_ENV="production", SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="portal.example.com")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db(transaction=True)
def test_production_refuses_the_default_secret_and_debug():
    result = _check(DJANGO_ENV="production", DEBUG="1", ALLOWED_HOSTS="portal.example.com")
    assert result.returncode != 0
    assert "portal.E001" in result.stderr and "portal.E002" in result.stderr


@pytest.mark.django_db
def test_production_refuses_while_demo_users_exist(settings):
    settings.PRODUCTION, settings.DEBUG, settings.SECRET_KEY = True, False, GOOD_SECRET
    assert production_safety() == []
    UserFactory(username="agent", role="Agent")
    assert [e.id for e in production_safety()] == ["portal.E003"]
    with pytest.raises(ImproperlyConfigured, match="demo users"):
        refuse_unsafe_production_start()


@pytest.mark.django_db
def test_development_has_no_such_rule(settings):
    settings.PRODUCTION = False
    UserFactory(username="agent", role="Agent")
    assert production_safety() == []


@pytest.mark.django_db(transaction=True)
def test_delete_demo_users_runs_in_production_while_they_exist():
    from django.contrib.auth.models import User

    UserFactory(username="agent")
    UserFactory(username="admin")
    production = {"DJANGO_ENV": "production", "SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "portal.example.com"}
    assert "portal.E003" in _check(**production).stderr

    result = _manage("delete_demo_users", **production)
    assert result.returncode == 0, result.stderr
    assert "Deleted the demo users: admin, agent." in result.stdout
    assert not User.objects.filter(username__in=["agent", "admin"]).exists()
    assert _check(**production).returncode == 0


@pytest.mark.django_db(transaction=True)
def test_delete_demo_users_still_runs_the_other_production_checks():
    UserFactory(username="agent")
    result = _manage("delete_demo_users", DJANGO_ENV="production", DEBUG="1", ALLOWED_HOSTS="portal.example.com")
    assert result.returncode != 0
    assert "portal.E002" in result.stderr and "portal.E003" not in result.stderr
