"""The client's address behind trusted proxies: one function for the login lockout and the access log.

TRUSTED_PROXY_COUNT = 0: REMOTE_ADDR, X-Forwarded-For ignored (anyone can send it). N > 0: the Nth address from
the right of X-Forwarded-For, or REMOTE_ADDR when the header has fewer entries.
"""

import pytest
from axes.helpers import get_client_ip_address
from django.test import Client, RequestFactory

from portal.audit import client_ip
from portal.models import AccessLog
from tests.factories import CustomerFactory

PROXY = "10.0.0.1"
CLIENT = "203.0.113.9"
OTHER_CLIENT = "198.51.100.7"
GOOD_PASSWORD = "correct-horse-battery"


def _request(forwarded=None, remote=PROXY):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    "proxies, forwarded, expected",
    [
        (0, None, PROXY),
        (0, "1.2.3.4", PROXY),  # spoofed: no proxy is trusted, so the header means nothing
        (0, f"1.2.3.4, {CLIENT}", PROXY),
        (1, CLIENT, CLIENT),
        (1, f"1.2.3.4, {CLIENT}", CLIENT),  # the client wrote 1.2.3.4 itself; our proxy appended CLIENT
        (2, f"1.2.3.4, {CLIENT}, 172.16.0.5", CLIENT),
        (2, CLIENT, PROXY),  # fewer entries than proxies: fall back
        (1, None, PROXY),
        (1, "", PROXY),
        (1, "not-an-address", PROXY),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_ip(_request(forwarded)) == expected


def test_axes_uses_the_same_function(settings):
    assert settings.AXES_CLIENT_IP_CALLABLE == "portal.audit.client_ip"
    settings.TRUSTED_PROXY_COUNT = 1
    assert get_client_ip_address(_request(f"1.2.3.4, {CLIENT}")) == CLIENT
    settings.TRUSTED_PROXY_COUNT = 0
    assert get_client_ip_address(_request(f"1.2.3.4, {CLIENT}")) == PROXY


@pytest.mark.django_db
def test_the_access_log_records_the_real_client(settings, agent, client_for):
    settings.TRUSTED_PROXY_COUNT = 1
    customer = CustomerFactory()
    client_for(agent).get(f"/customers/{customer.public_id}/", REMOTE_ADDR=PROXY,
                          HTTP_X_FORWARDED_FOR=f"1.2.3.4, {CLIENT}")
    assert AccessLog.objects.get(customer=customer).ip_address == CLIENT


def _sign_in(password, forwarded, remote=PROXY):
    return Client().post("/accounts/login/", {"username": "agent", "password": password},
                         REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)


@pytest.mark.django_db
def test_behind_a_proxy_the_lockout_applies_per_real_client(settings, agent):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in("wrong", CLIENT)
    assert _sign_in(GOOD_PASSWORD, CLIENT).status_code == 429
    # Another client behind the same proxy (same REMOTE_ADDR) is not locked out by the first one's failures.
    assert _sign_in(GOOD_PASSWORD, OTHER_CLIENT).status_code == 302
    # A client cannot escape its lockout by writing its own X-Forwarded-For entry: the proxy appends the real one.
    assert _sign_in(GOOD_PASSWORD, f"{OTHER_CLIENT}, {CLIENT}").status_code == 429


@pytest.mark.django_db
def test_without_a_proxy_a_spoofed_header_does_not_escape_the_lockout(settings, agent):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(settings.AXES_FAILURE_LIMIT):
        _sign_in("wrong", f"192.0.2.{n}", remote=CLIENT)
    assert _sign_in(GOOD_PASSWORD, OTHER_CLIENT, remote=CLIENT).status_code == 429
