"""Email templates: only documented variables, escaping in the HTML part only, admin validation."""

import pytest
from django.test import Client

from portal.models import AuditEvent
from support.email_context import VARIABLES, TemplateProblem, example_values, render_email, template_variables
from support.models import EmailTemplate
from tests.support.factories import EmailTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("source, name", [
    ("Hi {{ frist_name }}", "frist_name"),
    ("{% if vip %}Thanks!{% endif %}", "vip"),  # Django resolves {% if %} leniently: the walk still finds it
    ("{% for line in invoice_lines %}{{ line }}{% endfor %}", "invoice_lines"),
    ("{{ first_name|default:nickname }}", "nickname"),
    ("{{ customer.email }}", "customer"),
])
def test_it_names_an_unknown_variable(source, name):
    with pytest.raises(TemplateProblem) as caught:
        template_variables(source)
    assert caught.value.code == "unknown_variable"
    assert f"“{name}”" in caught.value.message


def test_it_knows_names_bound_inside_the_template():
    assert template_variables("{% with n=first_name %}{{ n }}{% endwith %}") == {"first_name"}


@pytest.mark.parametrize("source", ["{% include 'base.html' %}", "{% debug %}", "{% url 'home' %}",
                                    "{% load static %}", "{% csrf_token %}"])
def test_it_refuses_tags_that_reach_outside_the_email(source):
    with pytest.raises(TemplateProblem):
        template_variables(source)


def test_rendering_refuses_an_unknown_attribute_of_a_known_variable():
    template = EmailTemplate(subject="Hi", body="{{ first_name.nickname }}", html="")
    with pytest.raises(TemplateProblem) as caught:
        render_email(template, example_values())
    assert "first_name.nickname" in caught.value.message


def test_html_in_a_name_is_escaped_in_the_html_part_and_not_in_the_text_part():
    template = EmailTemplate(subject="For {{ full_name }}", body="Dear {{ full_name }},\nSee https://example.com/a?b=1&c=2",
                             html="")
    rendered = render_email(template, {**example_values(), "full_name": "<b>Ann</b> & Co"})
    assert rendered.subject == "For <b>Ann</b> & Co"
    assert "Dear <b>Ann</b> & Co," in rendered.text
    assert "&lt;b&gt;Ann&lt;/b&gt; &amp; Co" in rendered.html and "<b>" not in rendered.html
    assert '<a href="https://example.com/a?b=1&amp;c=2"' in rendered.html


def test_an_html_body_is_rendered_with_autoescaping():
    template = EmailTemplate(subject="Hi", body="Dear {{ full_name }}", html="<p>Dear <em>{{ full_name }}</em></p>")
    rendered = render_email(template, {**example_values(), "full_name": "<script>x</script>"})
    assert rendered.html == "<p>Dear <em>&lt;script&gt;x&lt;/script&gt;</em></p>"
    assert rendered.text == "Dear <script>x</script>\n"


def test_the_subject_is_one_line():
    template = EmailTemplate(subject="Hi\n{{ first_name }}", body="x", html="")
    assert render_email(template, example_values()).subject == "Hi Ann"


def test_the_default_templates_exist_and_render():
    codes = set(EmailTemplate.objects.values_list("code", flat=True))
    assert {"welcome", "card-update-reminder", "payment-failed", "ticket-reply", "renewal-notice",
            "newsletter"} <= codes
    for template in EmailTemplate.objects.all():
        render_email(template, example_values())
    assert EmailTemplate.objects.get(code="newsletter").marketing
    assert template_variables(EmailTemplate.objects.get(code="ticket-reply").body) >= {"reply_body"}


def test_every_variable_is_documented():
    assert all(var.description and var.example for var in VARIABLES.values())


# ---- Django admin ----------------------------------------------------------------------------------------------

@pytest.fixture
def admin_client(admin_user, client_for):
    """The Admin role with staff status: who opens Django's admin."""
    admin_user.is_staff = True
    admin_user.save(update_fields=["is_staff"])
    return client_for(admin_user)


def _admin_form(**overrides):
    data = {"code": "promo", "name": "Promo", "subject": "Hi {{ first_name }}", "body": "Hello {{ full_name }}",
            "html": "", "active": "on"}
    data.update(overrides)
    return data


def test_the_admin_refuses_a_template_with_an_unknown_variable(admin_client):
    response = admin_client.post("/admin/support/emailtemplate/add/", _admin_form(body="Hello {{ frist_name }}"))
    assert response.status_code == 200
    assert "“frist_name”" in response.content.decode()
    assert not EmailTemplate.objects.filter(code="promo").exists()


def test_the_admin_saves_a_valid_template_and_audits_it(admin_client):
    response = admin_client.post("/admin/support/emailtemplate/add/", _admin_form())
    assert response.status_code == 302
    assert EmailTemplate.objects.get(code="promo").name == "Promo"
    event = AuditEvent.objects.get(action="admin.support.emailtemplate.added")
    assert "body" in event.data["fields"]


def test_the_admin_lists_the_variables(admin_client):
    body = admin_client.get("/admin/support/emailtemplate/add/").content.decode()
    assert "update_card_url" in body and "CUSTOMER_PORTAL_URL" in body


def test_agents_cannot_open_the_template_admin(agent):
    agent.is_staff = True
    agent.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(agent)
    EmailTemplateFactory(code="x")
    assert client.get("/admin/support/emailtemplate/").status_code == 302  # to the admin login
