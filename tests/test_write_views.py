"""The kernel's write-view shape (portal/write_views.py) and the one capability declaration per view
(portal/access.py)."""

import pytest
from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from customers.access import access_customer
from portal.access import grant
from portal.errors import DomainError
from portal.write_views import apply, write_view
from tests.factories import CustomerFactory


class NameForm(forms.Form):
    name = forms.CharField(max_length=10)


def _refuse(data):
    raise DomainError("That name is taken.", code="taken")


def test_a_refusal_becomes_an_error_on_the_mapped_field_and_the_form_stays_invalid():
    outcome = apply(NameForm({"name": "ada"}), _refuse, {"taken": "name"})
    assert not outcome.ok and outcome.form.errors == {"name": ["That name is taken."]}
    outcome = apply(NameForm({"name": "ada"}), _refuse)
    assert outcome.form.non_field_errors() == ["That name is taken."]
    assert apply(NameForm({"name": "x" * 11}), lambda data: pytest.fail("never called")).ok is False
    assert apply(NameForm({"name": "ada"}), lambda data: data["name"].upper()).result == "ADA"


@pytest.mark.django_db
def test_without_htmx_the_outcome_is_flashed_and_the_browser_goes_back(agent, rf_with_messages):
    request = rf_with_messages(agent, htmx=False)
    response = write_view(request, form=NameForm({"name": "ada"}), service=_refuse, message="Saved.",
                          redirect_to="/back/", fragment=lambda outcome: pytest.fail("no fragment without htmx"))
    assert (response.status_code, response["Location"]) == (302, "/back/")
    assert [str(m) for m in request._messages] == ["That name is taken."]


@pytest.mark.django_db
def test_with_htmx_a_success_is_200_with_a_toast_and_a_refusal_422(agent, rf_with_messages):
    fragment = ("portal/settings.html", {})
    ok = write_view(rf_with_messages(agent, htmx=True), form=NameForm({"name": "ada"}), service=lambda d: 3,
                    message=lambda result: f"Saved {result}.", redirect_to="/", fragment=lambda o: fragment,
                    swap_into="#box")
    assert ok.status_code == 200 and "Saved 3." in ok["HX-Trigger"] and ok["HX-Retarget"] == "#box"
    refused = write_view(rf_with_messages(agent, htmx=True), form=NameForm({"name": "ada"}), service=_refuse,
                         message="Saved.", redirect_to="/", fragment=lambda o: fragment)
    assert refused.status_code == 422 and "HX-Trigger" not in refused


@pytest.mark.django_db
def test_a_load_helper_refuses_to_run_for_a_view_that_declared_no_capability(agent):
    customer = CustomerFactory()
    request = RequestFactory().get("/")
    request.user = agent
    with pytest.raises(ImproperlyConfigured, match="without declaring a capability"):
        access_customer(request, customer.public_id)
    grant(request, "view_customers")
    assert access_customer(request, customer.public_id) == customer


@pytest.fixture
def rf_with_messages():
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore
    from django_htmx.middleware import HtmxDetails

    def make(user, *, htmx: bool):
        request = RequestFactory().post("/", headers={"HX-Request": "true"} if htmx else {})
        request.user, request.session = user, SessionStore()
        request._messages = FallbackStorage(request)
        request.htmx = HtmxDetails(request)
        return request

    return make
