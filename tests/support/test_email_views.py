"""Send email from the profile: the header button, the dialog with its preview, the send, the Emails tab."""

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from customers.models import ActivityEvent, Customer
from portal.models import AccessLog
from support.models import EmailMessage
from tests.customers.test_profile import make_customer
from tests.factories import CustomerFactory
from tests.support.factories import ConsentFactory, EmailMessageFactory, EmailTemplateFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def url(name, customer):
    return reverse(f"support:{name}", kwargs={"public_id": customer.public_id})


@pytest.fixture
def customer():
    customer = make_customer(email="ann@example.com")
    Customer.objects.filter(pk=customer.pk).update(first_name="<b>Ann</b>")
    customer.refresh_from_db()
    return customer


def test_the_profile_header_has_the_send_button_for_agents_only(agent_client, client_for, viewer, customer):
    profile = reverse("customers:profile", kwargs={"public_id": customer.public_id})
    body = agent_client.get(profile).content.decode()
    assert url("email_new", customer) in body and 'id="email-send-dialog"' in body
    assert url("email_new", customer) not in client_for(viewer).get(profile).content.decode()


def test_the_dialog_lists_templates_and_previews_the_first_for_this_customer(agent_client, customer,
                                                                               django_assert_max_num_queries):
    # session, user, customer, templates, consent, renewal date, amount due, access log, the session's slide and
    # its transaction: none of them grows with the customer's history or the number of templates
    with django_assert_max_num_queries(11):
        response = agent_client.get(url("email_new", customer), headers={**HTMX, "HX-Target": "email-send-body"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    # The newsletter needs consent; the ticket reply needs a ticket: both are listed, disabled, with the reason.
    assert 'value="newsletter" disabled' in body and "not agreed to marketing by email" in body
    assert 'value="ticket-reply" disabled' in body and "sent from the ticket" in body
    assert 'value="card-update-reminder" selected' in body  # the first sendable one, by name
    assert "Please update your card, &lt;b&gt;Ann&lt;/b&gt;" in body
    assert "https://billing.example.com/billing/payment-method" in body
    assert AccessLog.objects.filter(customer=customer).count() == 1


def test_a_customer_with_consent_can_get_the_newsletter(agent_client, customer):
    ConsentFactory(customer=customer, granted=True)
    body = agent_client.get(url("email_new", customer), headers=HTMX).content.decode()
    assert 'value="newsletter" disabled' not in body and 'value="newsletter"' in body


def test_the_preview_swaps_in_another_template(agent_client, customer, django_assert_max_num_queries):
    with django_assert_max_num_queries(11):  # the dialog's queries: the same reads for one template
        response = agent_client.get(url("email_preview", customer), {"template": "welcome"},
                                    headers={**HTMX, "HX-Target": "email-preview"})
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<section id="email-preview"')
    assert "Welcome aboard, &lt;b&gt;Ann&lt;/b&gt;" in body and "Pro Monthly" in body


def test_the_preview_names_an_unknown_variable(agent_client, customer):
    EmailTemplateFactory(code="typo", name="Typo", body="Hi {{ frist_name }}")
    response = agent_client.get(url("email_preview", customer), {"template": "typo"}, headers=HTMX)
    assert response.status_code == 422
    assert "“frist_name”" in response.content.decode()
    dialog = agent_client.get(url("email_new", customer), headers=HTMX).content.decode()
    assert 'value="typo" disabled' in dialog  # not offered either


@pytest.mark.parametrize("code", ["newsletter", "nope"])
def test_the_preview_refuses_a_template_this_customer_cannot_get(agent_client, customer, code):
    response = agent_client.get(url("email_preview", customer), {"template": code}, headers=HTMX)
    assert response.status_code == 422 and "cannot be sent" in response.content.decode()


def test_sending_queues_the_email_closes_the_dialog_and_pops_a_toast(agent_client, customer,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(url("email_send", customer), {"template": "welcome"}, headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#profile-header" and response["HX-Reswap"] == "outerHTML"
    assert "Email queued to ann@example.com." in response["HX-Trigger"] and "emails-changed" in response["HX-Trigger"]
    message = EmailMessage.objects.get(customer=customer)
    assert message.status == "sent" and len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Welcome aboard, <b>Ann</b>"
    html = mail.outbox[0].alternatives[0][0]
    assert "&lt;b&gt;Ann&lt;/b&gt;" in html and "<b>Ann</b>" not in html
    assert ActivityEvent.objects.filter(customer=customer, summary="Email “Welcome” queued").exists()


def test_sending_without_javascript_redirects_to_the_emails_tab(agent_client, customer):
    response = agent_client.post(url("email_send", customer), {"template": "welcome"})
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:profile_tab", kwargs={"public_id": customer.public_id,
                                                                           "tab": "emails"})


@pytest.mark.parametrize("data", [{}, {"template": ""}, {"template": "nope"}, {"template": "newsletter"},
                                  {"template": "ticket-reply"}, {"template": "x" * 5000}])
def test_bad_input_changes_nothing(agent_client, customer, data, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(url("email_send", customer), data, headers=HTMX)
    assert response.status_code == 422
    assert 'id="email-send-form"' in response.content.decode()
    assert not EmailMessage.objects.exists() and mail.outbox == []


def test_an_unknown_variable_is_refused_at_send(agent_client, customer, django_capture_on_commit_callbacks):
    EmailTemplateFactory(code="typo", name="Typo", body="Hi {{ frist_name }}")
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(url("email_send", customer), {"template": "typo"}, headers=HTMX)
    assert response.status_code == 422 and not EmailMessage.objects.exists()


def test_an_erased_customer_has_no_button_and_the_send_is_refused(agent_client):
    customer = CustomerFactory(status=Customer.Status.ERASED)
    body = agent_client.get(url("email_new", customer), headers=HTMX).content.decode()
    assert "Send email</button>" in body and "disabled" in body and "erased" in body
    response = agent_client.post(url("email_send", customer), {"template": "welcome"}, headers=HTMX)
    assert response.status_code == 422 and not EmailMessage.objects.exists()


@pytest.mark.parametrize("name, method", [("email_new", "get"), ("email_preview", "get"), ("email_send", "post")])
def test_a_role_without_contact_customers_gets_403(client_for, viewer, customer, name, method):
    response = getattr(client_for(viewer), method)(url(name, customer), {"template": "welcome"})
    assert response.status_code == 403 and not EmailMessage.objects.exists()


@pytest.mark.parametrize("name, method", [("email_new", "post"), ("email_preview", "post"), ("email_send", "get")])
def test_the_wrong_method_gets_405(agent_client, customer, name, method):
    assert getattr(agent_client, method)(url(name, customer)).status_code == 405


def test_an_unknown_customer_gets_404(agent_client):
    assert agent_client.get("/customers/cus_0000000000000000/emails/new/").status_code == 404


# ---- The Emails tab --------------------------------------------------------------------------------------------

def test_the_emails_tab_lists_messages_with_status_newest_first(client_for, viewer, customer,
                                                                django_assert_max_num_queries):
    EmailMessageFactory(customer=customer, status="sent", subject="Older one", sent_at=timezone.now(),
                        created_at=timezone.now() - timezone.timedelta(days=1))
    EmailMessageFactory(customer=customer, status="failed", subject="Newer one",
                        error="The recipient was refused: 550 5.1.1 No such user")
    EmailMessageFactory.create_batch(25, customer=customer, created_at=timezone.now() - timezone.timedelta(days=9))
    tab = reverse("customers:profile_tab", kwargs={"public_id": customer.public_id, "tab": "emails"})
    client = client_for(viewer)
    with django_assert_max_num_queries(8):
        response = client.get(tab, headers={**HTMX, "HX-Target": "profile-tabs"})
    body = response.content.decode()
    assert body.index("Newer one") < body.index("Older one")
    assert "No such user" in body and "status-email-failed" in body and "status-email-sent" in body
    assert 'id="emails-more"' in body  # 27 emails: a second page
