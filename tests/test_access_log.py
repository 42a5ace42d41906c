"""The access-log kernel (portal/access_log.py): what a response discloses is written once, after the response."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from portal.access_log import AccessLogMiddleware, disclose
from portal.models import AccessLog
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _respond(agent, status: int, *customers):
    def view(request):
        disclose(*customers)
        return HttpResponse(status=status)

    request = RequestFactory().get("/somewhere/", REMOTE_ADDR="2001:db8::7")
    request.user = agent
    return AccessLogMiddleware(view)(request)


def test_a_response_writes_one_row_per_disclosed_customer(agent, django_assert_num_queries):
    ada, bob = CustomerFactory(), CustomerFactory()
    with django_assert_num_queries(1):  # one INSERT, whatever the number of customers
        _respond(agent, 200, ada, [bob, ada])
    rows = set(AccessLog.objects.values_list("customer", "user", "view", "ip_address"))
    assert rows == {(ada.pk, agent.pk, "/somewhere/", "2001:db8::7"), (bob.pk, agent.pk, "/somewhere/", "2001:db8::7")}


def test_a_form_re_render_is_logged_and_an_error_page_is_not(agent):
    ada = CustomerFactory()
    _respond(agent, 422, ada)
    _respond(agent, 500, ada)
    assert AccessLog.objects.count() == 1


def test_outside_a_request_nothing_is_recorded(agent):
    disclose(CustomerFactory())  # a task or a command rendering a template: not a response
    _respond(agent, 200)
    assert not AccessLog.objects.exists()
