"""Every response that carries a customer's personal data writes an AccessLog row.

Logging is a property of how customer data leaves the server, not a call each view has to remember:

- Rendering: the template backend (`Templates`, configured in settings) looks at the top-level values of every
  context it renders. A `Customer`, or any object registered with `customers_in` (a profile header, a directory
  page, an invoice), marks that customer as disclosed by the current response.
- Serialising: JSON shape functions that turn customer data into a dict are decorated with
  `@serializes_customer_data`; calling one marks the customer its first argument belongs to.
- Writing: `AccessLogMiddleware` collects the marks of one request and, once the response is built, writes one
  AccessLog row per disclosed customer in a single INSERT (a directory page of 25 customers is one statement),
  with the user, the view (URL name, plus the tab or the method of a write), the client IP and the request id.

Marks made outside a request (a Celery task, a management command) are ignored: only responses are logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from functools import singledispatch, wraps

from django.template.backends.django import DjangoTemplates, Template

from portal.context import current_request_id

_disclosed: ContextVar[dict[int, None] | None] = ContextVar("portal_disclosed_customers", default=None)
READ_METHODS = ("GET", "HEAD")


@singledispatch
def customers_in(value) -> Iterable[int]:
    """The ids of the customers whose personal data `value` carries. Apps register their types (see
    customers/disclosures.py); values of any other type carry none."""
    return ()


@customers_in.register(list)
@customers_in.register(tuple)
def _customers_in_sequence(values) -> Iterable[int]:
    for value in values:
        yield from customers_in(value)


def disclose(*values) -> None:
    """Mark the customers these values carry as disclosed by the current response."""
    disclosed = _disclosed.get()
    if disclosed is None:
        return
    for value in values:
        for customer_id in customers_in(value):
            if customer_id is not None:
                disclosed[customer_id] = None


def disclosed_customer_ids() -> list[int]:
    """The customers the current response has disclosed so far (stored with an idempotent response)."""
    return list(_disclosed.get() or ())


def disclose_customer_ids(customer_ids: Iterable[int]) -> None:
    """Mark customers by id: a stored response replayed discloses what it disclosed the first time."""
    disclosed = _disclosed.get()
    if disclosed is not None:
        disclosed.update(dict.fromkeys(customer_ids))


def serializes_customer_data(shape):
    """Decorator for a JSON shape function whose first argument is customer data: calling it discloses that data."""

    @wraps(shape)
    def wrapped(value, *args, **kwargs):
        disclose(value)
        return shape(value, *args, **kwargs)

    return wrapped


class DisclosingTemplate(Template):
    def render(self, context=None, request=None):
        if context:
            disclose(*context.values())
        return super().render(context, request)


class Templates(DjangoTemplates):
    """Django's template engine, plus: a render discloses the customers its context carries."""

    def from_string(self, template_code):
        return DisclosingTemplate(super().from_string(template_code).template, self)

    def get_template(self, template_name):
        return DisclosingTemplate(super().get_template(template_name).template, self)


def view_label(request) -> str:
    """`customers:profile_tab:payments`, `api_customer_detail PATCH`: the URL name, the tab, and the method of a
    write (a write that answers with the customer's data is a read too)."""
    match = getattr(request, "resolver_match", None)
    label = match.view_name if match is not None else request.path
    if match is not None and "tab" in match.kwargs:
        label = f"{label}:{match.kwargs['tab']}"
    if request.method not in READ_METHODS:
        label = f"{label} {request.method}"
    return label


def access_log_write(request, customer_ids: Iterable[int]) -> None:
    """One INSERT: a row per customer whose data this request's response carries.

    Written as SQL because a directory page logs up to 100 customers on every search keystroke: bulk_create took
    ~16 ms to build and bind 100 rows (4 ms for 25), this statement 1-3 ms; and it has one shape whatever the
    number of rows, so a connection prepares it once.
    """
    from django.db import connection

    from portal.audit import client_ip  # the models load after this module (it is the template backend)
    from portal.models import AccessLog

    meta = AccessLog._meta
    column = {name: connection.ops.quote_name(meta.get_field(name).column)
              for name in ("user", "customer", "view", "ip_address", "request_id")}  # created_at: the database's
    sql = (f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({', '.join(column.values())}) "
           f"SELECT %s, customer_id, %s, %s::inet, %s FROM unnest(%s::bigint[]) AS ids(customer_id)")
    user = request.user if request.user.is_authenticated else None
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk if user else None,
                             view_label(request)[:meta.get_field("view").max_length], client_ip(request),
                             current_request_id(), list(customer_ids)])


class AccessLogMiddleware:
    """Collects what a request's response discloses and logs it once the response is built.

    Any status below 500 is logged: a 422 form re-render shows the customer's data as much as a 200 does. A 5xx
    answer is the error page, which carries none of what was rendered before the failure.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        disclosed: dict[int, None] = {}
        token = _disclosed.set(disclosed)
        try:
            response = self.get_response(request)
        finally:
            _disclosed.reset(token)
        if disclosed and response.status_code < 500:
            access_log_write(request, disclosed)
        return response
