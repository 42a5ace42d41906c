"""Reads for the send-email dialog, the profile's Emails tab and the emails API."""

from __future__ import annotations

from dataclasses import dataclass

from customers.models import Customer
from customers.selectors.profile import Cursor, Page, newest_first
from privacy.selectors import has_email_marketing_consent
from support.email_context import TemplateProblem, ticket_only_problem
from support.models import EmailMessage, EmailTemplate
from support.policy import email_refusal


@dataclass(frozen=True)
class TemplateChoice:
    code: str
    name: str
    marketing: bool
    refusal: str | None  # why it cannot be sent to this customer now (None: it can)


def email_template_choices(customer: Customer) -> list[TemplateChoice]:
    """Every active template, each with the reason it cannot go to this customer (two queries: the templates and
    the customer's latest email-marketing consent, read only when a marketing template exists)."""
    templates = list(EmailTemplate.objects.filter(active=True).order_by("name"))
    consent = any(t.marketing for t in templates) and has_email_marketing_consent(customer)
    choices = []
    for template in templates:
        refusal = email_refusal(template, customer, marketing_consent=consent)
        if refusal is None:
            try:
                refusal = ticket_only_problem(template)
            except TemplateProblem as exc:  # a template edited outside the admin form: say so, do not offer it
                refusal = exc.message
        choices.append(TemplateChoice(template.code, template.name, template.marketing, refusal))
    return choices


def customer_emails(customer: Customer, *, after: Cursor | None = None) -> Page:
    """The customer's emails, newest first, keyset-paged on the (customer, created_at, id) index."""
    return newest_first(EmailMessage.objects.filter(customer=customer).select_related("template", "created_by"),
                        after=after)
