"""What an email template may say: the documented variables, and rendering with nothing else.

VARIABLES is the one list of names templates can use. A template naming any other variable (a typo such as
`{{ frist_name }}`, or `{{ customer.password }}`) is refused when an admin saves it, when an agent previews it and
when it is sent, with a message naming the variable: the customer never gets an email with a blank where their
name should be. Two checks make sure of it: the compiled template's nodes are walked for every variable and
filter argument (this also catches names only read by `{% if %}` or `{% for %}`, which Django resolves leniently),
and rendering itself runs with a "string if invalid" that raises instead of printing nothing.

Templates are rendered by a stand-alone engine: Django's built-in filters and the plain tags below, no `{% load %}`,
`{% include %}`, `{% extends %}`, `{% url %}`, `{% csrf_token %}` or `{% debug %}`, no access to the portal's own
templates or settings. The subject and the text body are rendered without HTML escaping (they are plain text);
the HTML body with autoescaping on, so a customer named `<b>Ann</b>` is shown as typed, not as bold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from django.conf import settings
from django.template import Engine, TemplateSyntaxError
from django.template import defaulttags, loader_tags
from django.template.base import FilterExpression, Node, TextNode, Variable, VariableNode
from django.utils.html import linebreaks, urlize

from portal.money import format_money

# Scopes: "customer" values exist for every email; "ticket" values only when replying on a ticket; "card_link"
# values only in the email that carries a card-update link (payments/card_links.py issues the link and sends it);
# "dunning" values only in the emails the billing job sends about a failed payment (subscriptions/billing.py).
CUSTOMER, TICKET, CARD_LINK, DUNNING = "customer", "ticket", "card_link", "dunning"
# What a template needing a scope's values is sent from, for the send dialog and the refusal.
SENT_FROM = {TICKET: "the ticket", CARD_LINK: "“Send card-update link” on the profile",
             DUNNING: "the billing job, after a failed payment"}
# Who provides a scope's values, for the refusal of a template that needs them.
PROVIDED_BY = {TICKET: "a ticket reply", CARD_LINK: "a card-update link email",
               DUNNING: "a failed-payment email from the billing job"}


@dataclass(frozen=True)
class TemplateVariable:
    description: str
    example: str
    scope: str = CUSTOMER


VARIABLES: dict[str, TemplateVariable] = {
    "first_name": TemplateVariable("The customer's first name", "Ann"),
    "last_name": TemplateVariable("The customer's last name", "Lee"),
    "full_name": TemplateVariable("First and last name", "Ann Lee"),
    "email": TemplateVariable("The address the email goes to", "ann@example.com"),
    "plan_name": TemplateVariable("Name of the current plan (empty without one)", "Pro Monthly"),
    "renewal_date": TemplateVariable(
        "When the live subscription renews or ends, as a date (empty without one); format it with the date "
        "filter, e.g. {{ renewal_date|date:\"j F Y\" }}", "2026-12-01"),
    "amount_due": TemplateVariable("What the customer's open invoices still ask for, formatted with the currency "
                                   "(\"$0.00\" when nothing is due)", "$15.00"),
    "has_amount_due": TemplateVariable("Whether open invoices ask for money: use it as {% if has_amount_due %}",
                                       "True"),
    "update_card_url": TemplateVariable(
        "The billing page of the customer's own account: CUSTOMER_PORTAL_URL + /billing/payment-method (they "
        "sign in there). The single-use link that needs no sign-in is card_link_url", "https://…"),
    "agent_name": TemplateVariable("The sender: the agent's full name, or the support team for automatic emails",
                                   "Sam Rivera"),
    "ticket_subject": TemplateVariable("Subject of the ticket being answered (ticket replies only)",
                                       "Refund for October", TICKET),
    "reply_body": TemplateVariable("The agent's reply on the ticket (ticket replies only)", "Hi Ann, …", TICKET),
    "card_link_url": TemplateVariable(
        "The signed, single-use link where the customer adds a new card without signing in (card-update link "
        "emails only)", "https://…/pay/card/…/", CARD_LINK),
    "card_link_expires_at": TemplateVariable(
        "When that link stops working, a date and time in UTC (card-update link emails only); format it with the "
        "date filter, e.g. {{ card_link_expires_at|date:\"j F Y, H:i\" }}", "2026-12-04 10:00", CARD_LINK),
    "next_retry_date": TemplateVariable(
        "When the failed payment is tried again, a date and time in UTC (failed-payment emails only; empty when no "
        "retry is planned until the card changes); format it with the date filter, e.g. "
        "{{ next_retry_date|date:\"D j M\" }}", "2026-12-03 09:00", DUNNING),
}
SUPPORT_TEAM_NAME = "The support team"

# Tags an email template may use: the plain logic and formatting ones of Django's built-ins.
ALLOWED_TAGS = {"if", "elif", "else", "endif", "for", "empty", "endfor", "with", "endwith", "comment",
                "endcomment", "firstof", "spaceless", "endspaceless", "verbatim", "endverbatim", "templatetag",
                "autoescape", "endautoescape", "filter", "endfilter", "now", "ifchanged", "endifchanged", "cycle",
                "resetcycle", "regroup", "widthratio", "lorem"}


class TemplateProblem(ValueError):
    """A template that cannot be rendered as written; the message says what to fix."""

    def __init__(self, message: str, *, code: str = "invalid_template"):
        super().__init__(message)
        self.message, self.code = message, code


class _RaiseOnUnknown(str):
    """Engine.string_if_invalid that raises: Django formats it with the variable's name ("%s" % name)."""

    def __mod__(self, name):
        raise TemplateProblem(f"The template uses “{name}”, which is not an email variable; {_available()}.",
                              code="unknown_variable")


def _available() -> str:
    return "the variables are " + ", ".join(VARIABLES)


def _engine(autoescape: bool) -> Engine:
    # No loaders and no libraries: only Django's built-in tags and filters, nothing from the portal's templates.
    return Engine(autoescape=autoescape, string_if_invalid=_RaiseOnUnknown("%s"), debug=False, loaders=[])


TEXT_ENGINE = _engine(autoescape=False)
HTML_ENGINE = _engine(autoescape=True)


# ---- Checking a template ---------------------------------------------------------------------------------------

def _expressions(value, seen: set[int]):
    """The FilterExpressions a node holds, wherever it keeps them (attributes, lists, dicts, {% if %} trees)."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, FilterExpression):
        yield value
        for _, args in value.filters:
            for is_lookup, arg in args:
                if is_lookup and isinstance(arg, Variable):
                    yield arg
    elif isinstance(value, Variable):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _expressions(item, seen)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _expressions(item, seen)
    elif hasattr(value, "__dict__") and not isinstance(value, (Node, type)) and type(value).__module__ in (
            "django.template.smartif", "django.template.defaulttags"):
        yield from _expressions(vars(value), seen)


def _root_name(expression) -> str | None:
    variable = expression.var if isinstance(expression, FilterExpression) else expression
    if isinstance(variable, Variable) and variable.lookups:
        return variable.lookups[0]
    return None  # a literal ("text", 3)


def _bound_names(node) -> set[str]:
    """Names a tag defines for its body: {% for x in … %}, {% with x=… %}, {% regroup … as x %}, {% cycle … as x %}."""
    names = set()
    if isinstance(node, defaulttags.ForNode):
        names.update(node.loopvars)
        names.add("forloop")
    elif isinstance(node, defaulttags.WithNode):
        names.update(node.extra_context)
    elif isinstance(node, defaulttags.RegroupNode):
        names.add(node.var_name)
    for attribute in ("variable_name", "asvar"):
        if isinstance(getattr(node, attribute, None), str):
            names.add(getattr(node, attribute))
    return names


def template_variables(source: str, *, html: bool = False) -> set[str]:
    """The documented variables a template source uses. Raises TemplateProblem for a syntax error, a tag that
    email templates may not use, or a variable that is not in VARIABLES (named in the message)."""
    if not source:
        return set()
    try:
        template = (HTML_ENGINE if html else TEXT_ENGINE).from_string(source)
    except TemplateSyntaxError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "it cannot be read"
        raise TemplateProblem(f"The template has a syntax error: {first_line}", code="template_syntax")
    nodes = template.nodelist.get_nodes_by_type(Node)
    used, bound = set(), set()
    for node in nodes:
        if isinstance(node, (TextNode, VariableNode)):
            pass
        elif isinstance(node, loader_tags.BlockNode | loader_tags.ExtendsNode | loader_tags.IncludeNode):
            raise TemplateProblem("Email templates cannot use {% block %}, {% extends %} or {% include %}.",
                                  code="template_tag")
        else:
            token = getattr(node, "token", None)
            tag = token.contents.split()[0] if token is not None and token.contents else type(node).__name__
            if tag not in ALLOWED_TAGS:
                raise TemplateProblem(f"Email templates cannot use the tag {{% {tag} %}}.", code="template_tag")
        bound |= _bound_names(node)
        for expression in _expressions(vars(node), set()):
            name = _root_name(expression)
            if name is not None:
                used.add(name)
    unknown = sorted(name for name in used - bound if name not in VARIABLES)
    if unknown:
        names = ", ".join(f"“{name}”" for name in unknown)
        raise TemplateProblem(f"The template uses {names}, which {'is' if len(unknown) == 1 else 'are'} not "
                              f"{'an email variable' if len(unknown) == 1 else 'email variables'}; {_available()}.", code="unknown_variable")
    return used & set(VARIABLES)


def template_requirements(template) -> set[str]:
    """Scopes (CUSTOMER, TICKET) whose values the template needs. Raises TemplateProblem like template_variables."""
    names = (template_variables(template.subject) | template_variables(template.body)
             | template_variables(template.html, html=True))
    return {VARIABLES[name].scope for name in names}


def dedicated_template_problem(template) -> str | None:
    """Why this template cannot be sent from the send dialog (None: it can): it needs values that only a ticket
    reply or a card-update link provides."""
    needs = template_requirements(template)
    if TICKET in needs:
        return "It answers a ticket (it uses the ticket's subject or reply), so it is sent from the ticket."
    if CARD_LINK in needs:
        return (f"It carries a card-update link (it uses the link or its expiry), so it is sent with "
                f"{SENT_FROM[CARD_LINK]}.")
    if DUNNING in needs:
        return f"It tells when a failed payment is retried, so it is sent by {SENT_FROM[DUNNING]}."
    return None


# ---- Values ----------------------------------------------------------------------------------------------------

def _amount_due(customer) -> int:
    from payments.selectors import customer_amount_due

    return customer_amount_due(customer)


def _renewal_date(customer) -> date | None:
    from subscriptions.models import Subscription

    live = (Subscription.objects.filter(customer=customer, status__in=Subscription.LIVE_STATUSES)
            .order_by("-current_period_end").values_list("current_period_end", flat=True).first())
    return live.date() if live else None


def agent_name(agent) -> str:
    if agent is None or not getattr(agent, "is_authenticated", False):
        return SUPPORT_TEAM_NAME
    return agent.get_full_name() or agent.get_username()


def update_card_url() -> str:
    return settings.CUSTOMER_PORTAL_URL.rstrip("/") + "/billing/payment-method"


def email_values(customer, *, agent=None, extra: dict | None = None) -> dict:
    """Every documented value for this customer and sender; `extra` adds the TICKET- and CARD_LINK-scope ones (and
    only those)."""
    extra = dict(extra or {})
    unknown = sorted(set(extra) - {name for name, var in VARIABLES.items() if var.scope != CUSTOMER})
    if unknown:
        raise TemplateProblem(f"These values cannot be passed to an email: {', '.join(unknown)}.",
                              code="unknown_variable")
    due = _amount_due(customer)
    values = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "full_name": customer.full_name,
        "email": customer.email,
        "plan_name": customer.plan.name if customer.plan_id else "",
        "renewal_date": _renewal_date(customer) or "",
        "amount_due": format_money(due, customer.currency),
        "has_amount_due": due > 0,
        "update_card_url": update_card_url(),
        "agent_name": agent_name(agent),
    }
    values.update(extra)
    return values


# ---- Rendering -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=256)
def _compiled(source: str, html: bool):
    return (HTML_ENGINE if html else TEXT_ENGINE).from_string(source)


def render_email(template, values: dict) -> RenderedEmail:
    """Subject, text and HTML parts of `template` with `values`. Raises TemplateProblem (naming the variable) when
    the template uses anything that is not documented, or a TICKET value that `values` does not carry."""
    from django.template import Context

    used = (template_variables(template.subject) | template_variables(template.body)
            | template_variables(template.html, html=True))
    missing = sorted(name for name in used if name not in values)
    if missing:
        scope = next(scope for scope in (TICKET, CARD_LINK, DUNNING)
                     if any(VARIABLES[name].scope == scope for name in missing))
        raise TemplateProblem(
            f"The template uses {', '.join(f'“{name}”' for name in missing)}, which only {PROVIDED_BY[scope]} "
            f"provides; send it from {SENT_FROM[scope]}.", code=f"needs_{scope}")
    subject = _compiled(template.subject, False).render(Context(values, autoescape=False))
    subject = " ".join(subject.split())  # one line: a header cannot hold line breaks
    text = _compiled(template.body, False).render(Context(values, autoescape=False)).strip() + "\n"
    if template.html:
        html = _compiled(template.html, True).render(Context(values, autoescape=True))
    else:
        html = linebreaks(urlize(text.strip(), autoescape=True))
    return RenderedEmail(subject=subject, text=text, html=html)


def example_values() -> dict:
    """Documented example values, for checking a template when it is saved."""
    return {name: var.example for name, var in VARIABLES.items()}
