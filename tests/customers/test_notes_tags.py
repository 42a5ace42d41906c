"""Notes, tags and profile edits: services, pages (htmx and plain forms), roles, audit and timeline."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from customers import services
from customers.models import ActivityEvent, Customer, CustomerTag, Note, Tag
from portal.context import action_source
from portal.errors import DomainError
from portal.models import AccessLog, AuditEvent
from tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def url(name, customer):
    return reverse(f"customers:{name}", kwargs={"public_id": customer.public_id})


@pytest.fixture
def customer(db):
    return CustomerFactory(first_name="Grace", last_name="Hopper", email="grace@example.com", country="US")


def toast(response) -> dict:
    return json.loads(response["HX-Trigger"])["toast"]


# ---- Tag names -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, stored", [
    ("VIP", "vip"), ("vip ", "vip"), ("  Gold   Member ", "gold member"), ("Needs\tcall-back", "needs call-back"),
    ("ＶＩＰ", "vip"), ("Café_crème", "café_crème"), ("x" * 40, "x" * 40),
])
def test_tag_names_are_normalised(raw, stored):
    assert services.normalize_tag_name(raw) == stored


@pytest.mark.parametrize("raw, message", [
    ("", "Type a tag name."), ("   ", "Type a tag name."), ("x" * 41, "at most 40 characters"),
    ("<b>vip</b>", "letters, digits"), ("vip!", "letters, digits"), ("a/b", "letters, digits"),
])
def test_bad_tag_names_are_refused_with_a_reason(raw, message):
    with pytest.raises(DomainError, match=message):
        services.normalize_tag_name(raw)


@given(st.text(max_size=60))
def test_normalising_is_idempotent_and_ignores_case_and_spacing(raw):
    try:
        name = services.normalize_tag_name(raw)
    except DomainError:
        return
    assert services.normalize_tag_name(name) == name
    shouted = "  " + "   ".join(name.upper().split(" ")) + " "
    if shouted.lower().strip() == name.replace(" ", "   "):  # letters whose upper case lowers back to themselves
        assert services.normalize_tag_name(shouted) == name


def test_vip_and_vip_with_a_space_are_one_tag(customer, agent):
    other = CustomerFactory()
    services.customer_tag_add(customer=customer, name="VIP", actor=agent)
    services.customer_tag_add(customer=other, name="vip ", actor=agent)
    assert list(Tag.objects.values_list("name", flat=True)) == ["vip"]
    with pytest.raises(DomainError, match="already has the tag “vip”"):
        services.customer_tag_add(customer=customer, name=" Vip", actor=agent)


# ---- Tags through the page -------------------------------------------------------------------------------------

def test_adding_a_tag_returns_the_tag_list_with_a_toast(agent_client, agent, customer):
    response = agent_client.post(url("tag_add", customer), {"name": "  Churn   Risk "}, headers=HTMX)
    assert response.status_code == 200
    assert 'id="customer-tags"' in response.content.decode() and "churn risk" in response.content.decode()
    assert toast(response) == {"message": "Tag added.", "level": "success"}
    assert list(customer.tags.values_list("name", flat=True)) == ["churn risk"]
    event = ActivityEvent.objects.get(customer=customer)
    assert (event.kind, event.action, event.source, event.actor) == ("profile", "tag.added", "agent", agent)
    audit = AuditEvent.objects.get(customer=customer)
    assert (audit.action, audit.data, audit.actor_label) == ("customers.tag.added", {"tag": "churn risk"}, "agent")


def test_a_bad_tag_is_422_with_the_error_in_place_and_nothing_changed(agent_client, customer):
    response = agent_client.post(url("tag_add", customer), {"name": "<script>"}, headers=HTMX)
    assert response.status_code == 422
    body = response.content.decode()
    assert "letters, digits" in body and 'aria-invalid="true"' in body
    assert "<script>" not in body.replace('value="&lt;script&gt;"', "")
    assert not Tag.objects.exists() and not ActivityEvent.objects.exists() and not AuditEvent.objects.exists()


def test_removing_a_tag(agent_client, customer, agent):
    services.customer_tag_add(customer=customer, name="vip", actor=agent)
    response = agent_client.post(url("tag_remove", customer), {"name": "VIP"}, headers=HTMX)
    assert response.status_code == 200 and toast(response)["message"] == "Tag removed."
    assert not customer.tags.exists()
    assert Tag.objects.filter(name="vip").exists()  # the tag stays for other customers
    assert AuditEvent.objects.filter(customer=customer, action="customers.tag.removed").count() == 1
    assert ActivityEvent.objects.filter(customer=customer, action="tag.removed").count() == 1


def test_removing_a_tag_the_customer_does_not_have_is_422(agent_client, customer):
    response = agent_client.post(url("tag_remove", customer), {"name": "vip"}, headers=HTMX)
    assert response.status_code == 422 and "has no tag “vip”" in response.content.decode()


def test_tag_forms_work_without_javascript(agent_client, customer):
    response = agent_client.post(url("tag_add", customer), {"name": "vip"})
    assert response.status_code == 302 and response["Location"] == url("profile", customer)
    assert customer.tags.filter(name="vip").exists()
    response = agent_client.post(url("tag_add", customer), {"name": "vip"}, follow=True)
    assert "already has the tag" in response.content.decode()


def test_tag_suggestions_offer_existing_tags_the_customer_lacks(agent_client, customer, agent):
    for name in ("vip", "vip-gold", "beta"):
        TagFactory(name=name)
    services.customer_tag_add(customer=customer, name="vip", actor=agent)
    response = agent_client.get(url("tag_suggest", customer), {"name": " VI"})
    assert response.content.decode() == '<option value="vip-gold"></option>'


# ---- Notes -----------------------------------------------------------------------------------------------------

def test_adding_a_note_shows_it_escaped_with_author_and_time(agent_client, agent, customer):
    body = '<script>alert("pwned")</script>\n<img src=x onerror=alert(1)> **not markdown**'
    response = agent_client.post(url("note_add", customer), {"body": body}, headers=HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page and "**not markdown**" in page
    assert ">agent</span>" in page and "<time data-local" in page
    assert toast(response) == {"message": "Note added.", "level": "success"}
    note = Note.objects.get(customer=customer)
    assert (note.body, note.author) == (body, agent)
    assert ActivityEvent.objects.get(customer=customer).action == "note.added"
    audit = AuditEvent.objects.get(customer=customer)
    assert audit.action == "customers.note.added" and "pwned" not in json.dumps(audit.data)


def test_an_empty_note_is_422_and_saves_nothing(agent_client, customer):
    response = agent_client.post(url("note_add", customer), {"body": "   "}, headers=HTMX)
    assert response.status_code == 422
    assert "Write the note before saving it." in response.content.decode()
    assert not Note.objects.exists() and not AuditEvent.objects.exists()


def test_a_too_long_note_is_refused(agent_client, customer):
    response = agent_client.post(url("note_add", customer), {"body": "x" * 5001}, headers=HTMX)
    assert response.status_code == 422 and not Note.objects.exists()


def test_note_form_works_without_javascript(agent_client, customer):
    response = agent_client.post(url("note_add", customer), {"body": "Called back."})
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:profile_tab",
                                           kwargs={"public_id": customer.public_id, "tab": "notes"})
    assert Note.objects.filter(customer=customer, body="Called back.").exists()


def test_source_comes_from_the_entry_point(customer, agent):
    with action_source("bulk"):
        services.customer_note_add(customer=customer, body="From a bulk job", actor=agent)
    assert ActivityEvent.objects.get(customer=customer).source == "bulk"
    assert AuditEvent.objects.get(customer=customer).source == "bulk"


def test_erased_customers_cannot_be_changed(customer, agent):
    Customer.objects.filter(pk=customer.pk).update(status=Customer.Status.ERASED)
    for call in (lambda: services.customer_note_add(customer=customer, body="x", actor=agent),
                 lambda: services.customer_tag_add(customer=customer, name="vip", actor=agent)):
        with pytest.raises(DomainError, match="erased"):
            call()
    assert not Note.objects.exists() and not CustomerTag.objects.exists()


# ---- Profile edits ---------------------------------------------------------------------------------------------

PROFILE = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com", "phone": "+1 555 0100",
           "address_line1": "", "address_line2": "", "city": "", "postal_code": "", "country": "US"}


def test_editing_the_profile_records_a_diff_and_an_event(agent_client, agent, customer):
    data = {**PROFILE, "first_name": "Amazing Grace", "email": "Grace.Hopper@EXAMPLE.com", "city": "Arlington"}
    response = agent_client.post(url("profile_edit", customer), data, headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#profile-header" and response["HX-Reswap"] == "outerHTML"
    assert 'id="profile-header"' in response.content.decode() and "Amazing Grace" in response.content.decode()
    assert toast(response)["message"] == "Profile saved."
    customer.refresh_from_db()
    assert (customer.first_name, customer.email, customer.city) == ("Amazing Grace", "Grace.Hopper@example.com",
                                                                     "Arlington")
    audit = AuditEvent.objects.get(customer=customer, action="customers.profile.updated")
    # The append-only row names the changed fields; the values themselves stay out of it.
    assert (audit.before, audit.after, audit.data) == ({}, {}, {"fields": ["first_name", "email", "city"]})
    event = ActivityEvent.objects.get(customer=customer)
    assert event.summary == "Profile updated: first name, email, city" and event.actor == agent


def test_saving_without_changes_records_nothing(agent_client, customer):
    response = agent_client.post(url("profile_edit", customer), PROFILE, headers=HTMX)
    assert response.status_code == 200 and toast(response)["message"].startswith("Nothing to save")
    assert not AuditEvent.objects.exists() and not ActivityEvent.objects.exists()


@pytest.mark.parametrize("change, field, message", [
    ({"email": "not-an-email"}, "email", "Enter a valid email address."),
    ({"first_name": ""}, "first_name", "This field is required."),
    ({"phone": "call me maybe"}, "phone", "Use digits"),
    ({"country": "XX"}, "country", "Select a valid choice."),
    ({"postal_code": "1" * 21}, "postal_code", "at most 20 characters"),
])
def test_invalid_input_is_422_in_place_and_changes_nothing(agent_client, customer, change, field, message):
    response = agent_client.post(url("profile_edit", customer), {**PROFILE, **change}, headers=HTMX)
    assert response.status_code == 422
    body = response.content.decode()
    assert body.lstrip().startswith('<form id="profile-edit-form"') and message in body
    assert f'id="id_{field}_error"' in body
    customer.refresh_from_db()
    assert customer.email == "grace@example.com" and customer.first_name == "Grace"
    assert not AuditEvent.objects.exists()


def test_an_email_used_by_another_customer_is_refused(agent_client, customer):
    other = CustomerFactory(email="taken@example.com")
    response = agent_client.post(url("profile_edit", customer), {**PROFILE, "email": "TAKEN@example.com"},
                                 headers=HTMX)
    assert response.status_code == 422
    assert f"Another customer ({other.public_id}) already uses" in response.content.decode()
    customer.refresh_from_db()
    assert customer.email == "grace@example.com"


def test_the_edit_form_loads_on_demand_and_logs_the_read(agent_client, agent, customer):
    response = agent_client.get(url("profile_edit", customer), headers=HTMX)
    assert response.content.decode().lstrip().startswith('<form id="profile-edit-form"')
    assert 'value="grace@example.com"' in response.content.decode()
    full = agent_client.get(url("profile_edit", customer))
    assert "<html" in full.content.decode() and "Edit Grace Hopper" in full.content.decode()
    assert list(AccessLog.objects.values_list("view", flat=True)) == ["customers:profile_edit"] * 2


def test_editing_works_without_javascript(agent_client, customer):
    response = agent_client.post(url("profile_edit", customer), {**PROFILE, "phone": "+1 555 0199"})
    assert response.status_code == 302 and response["Location"] == url("profile", customer)
    bad = agent_client.post(url("profile_edit", customer), {**PROFILE, "email": "nope"})
    assert bad.status_code == 422 and "<html" in bad.content.decode()


# ---- Roles and methods -----------------------------------------------------------------------------------------

WRITES = [("note_add", {"body": "hello"}), ("tag_add", {"name": "vip"}), ("tag_remove", {"name": "vip"}),
          ("profile_edit", PROFILE)]


@pytest.mark.parametrize("name, data", WRITES)
def test_writes_need_the_edit_capability(client_for, outsider, viewer, customer, name, data):
    for user in (outsider, viewer):
        response = client_for(user).post(url(name, customer), data, headers=HTMX)
        assert response.status_code == 403
    assert not Note.objects.exists() and not Tag.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize("name", ["note_add", "tag_add", "tag_remove"])
def test_writes_refuse_get(agent_client, customer, name):
    assert agent_client.get(url(name, customer)).status_code == 405


def test_read_only_role_cannot_open_the_edit_form_or_suggestions(client_for, viewer, customer):
    assert client_for(viewer).get(url("profile_edit", customer)).status_code == 403
    assert client_for(viewer).get(url("tag_suggest", customer)).status_code == 403


@pytest.mark.parametrize("persona", ["agent", "manager", "admin_user"])
def test_every_role_may_write(request, client_for, customer, persona):
    client = client_for(request.getfixturevalue(persona))
    assert client.post(url("note_add", customer), {"body": "hello"}, headers=HTMX).status_code == 200
    assert client.post(url("tag_add", customer), {"name": persona}, headers=HTMX).status_code == 200


def test_writes_need_the_csrf_token(agent, customer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    assert client.post(url("note_add", customer), {"body": "hello"}, headers=HTMX).status_code == 403
    assert not Note.objects.exists()
