"""With DEBUG on (`make run`), anonymous visitors get the plain error pages, never Django's technical ones (the
404 one lists every URL, the 500 one a traceback and settings). Signed-in users keep the technical pages."""

import pytest
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.test import Client, override_settings
from django.urls import path

from portal import urls as project_urls

URL_LIST = "Using the URLconf defined in"


@login_not_required
def _crash(request):
    raise RuntimeError("boom in a public view")


@login_not_required
def _missing(request):
    raise Http404("no such thing in the public view")


@login_not_required
def _suspicious(request):
    raise SuspiciousOperation("odd input")


class Urls:  # the project's URLs plus public views that fail, for these tests only
    urlpatterns = [path("test-crash", _crash), path("test-missing", _missing), path("test-suspicious", _suspicious),
                   *project_urls.urlpatterns]


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_anonymous_unknown_url_gets_the_plain_404_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert URL_LIST not in body
    assert "customers/" not in body and "api/v1/" not in body and "admin/" not in body
    assert "Not found" in body and 'href="/accounts/login/"' in body  # the project's 404 page, as in production


@pytest.mark.django_db
@override_settings(DEBUG=True, ROOT_URLCONF=Urls)
def test_anonymous_visitors_get_no_traceback_nor_raised_by():
    client = Client(raise_request_exception=False)
    crash = client.get("/test-crash")
    assert crash.status_code == 500
    assert "Something went wrong" in crash.content.decode()
    assert "boom in a public view" not in crash.content.decode() and "Traceback" not in crash.content.decode()
    missing = client.get("/test-missing")
    assert missing.status_code == 404
    assert "no such thing" not in missing.content.decode() and "Raised by" not in missing.content.decode()
    suspicious = client.get("/test-suspicious")
    assert suspicious.status_code == 400
    assert "odd input" not in suspicious.content.decode() and "Not accepted" in suspicious.content.decode()


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_signed_in_developers_keep_the_technical_404(agent, client_for):
    assert URL_LIST in client_for(agent).get("/no-such-page/").content.decode()


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_without_debug_the_plain_page_is_served_as_before(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert URL_LIST not in response.content.decode()


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_api_clients_get_json_errors_even_signed_in_with_debug_on(agent, api_client_for):
    client = api_client_for(agent)
    client.raise_request_exception = False
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found" and URL_LIST not in response.content.decode()
