from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET, require_POST

from portal import selectors, services
from portal.access import require_capability
from portal.cursors import InvalidCursor
from portal.errors import DomainError
from portal.forms import AccessLogFilterForm, ApiTokenForm, AuditFilterForm, LoginForm
from portal.models import ApiToken
from portal.roles import Cap


class PortalLoginView(auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "session_idle_minutes": settings.SESSION_COOKIE_AGE // 60}


@require_GET
def home(request):
    return redirect("customers:directory")


@login_not_required
@require_GET
def favicon(request):
    """Browsers and tools ask for /favicon.ico whatever a page links: send them to the icon the pages link."""
    return redirect(static("portal/favicon.svg"), permanent=True)


@login_not_required
@require_GET
def healthz(request):
    """Liveness for load balancers: the app answers and the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@require_GET
@require_capability(Cap.VIEW_AUDIT)
def audit_log(request):
    form = AuditFilterForm(request.GET)
    events, next_cursor, notice = [], None, ""
    if form.is_valid():
        read = partial(selectors.audit_events, action_prefix=form.cleaned_data["action"],
                       customer_public_id=form.cleaned_data["customer"], actor=form.cleaned_data["actor"])
        try:
            events, next_cursor = read(before=form.cleaned_data["before"] or None)
        except InvalidCursor as error:  # an edited or outdated link: the newest events, and say so
            events, next_cursor = read(before=None)
            notice = f"{error.message} Showing the newest events."
    context = {"form": form, "events": events, "next_cursor": next_cursor, "notice": notice,
               "filtered": form.has_filters(), "tab": "changes"}
    template = "portal/audit.html#results" if request.htmx else "portal/audit.html"
    return render(request, template, context)


@require_GET
@require_capability(Cap.VIEW_AUDIT)
def access_log(request):
    """Who read which customer's data. The page names customers by public id only and shows no personal value,
    so reading it is not itself a read of customer data: it writes no access-log row."""
    form = AccessLogFilterForm(request.GET)
    page, notice = selectors.AccessPage([], None), ""
    if form.is_valid():
        read = partial(selectors.access_log_entries, customer_public_id=form.cleaned_data["customer"],
                       username=form.cleaned_data["user"].strip(), since=form.cleaned_data["since"],
                       until=form.cleaned_data["until"])
        try:
            page = read(after=form.cleaned_data["after"] or None)
        except InvalidCursor as error:
            page = read(after=None)
            notice = f"{error.message} Showing the newest views."
    context = {"form": form, "entries": page.rows, "next_cursor": page.next_cursor, "notice": notice,
               "filtered": form.has_filters(), "tab": "access"}
    template = "portal/access_log.html#results" if request.htmx else "portal/access_log.html"
    return render(request, template, context)


def _settings_response(request, form, *, new_token=None, secret=None):
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    return render(request, "portal/settings.html",
                  {"tokens": tokens, "form": form, "new_token": new_token, "secret": secret})


@require_GET
def settings_page(request):
    return _settings_response(request, ApiTokenForm(user=request.user))


@require_POST
def api_token_create(request):
    """The secret is rendered on this response only: never in a message (the messages cookie is readable), the
    session or a redirect, so it exists once, on the page that answers the POST."""
    form = ApiTokenForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            token, secret = services.api_token_create(user=request.user, name=form.cleaned_data["name"],
                                                      actor=request.user,
                                                      expires_in_days=form.cleaned_data["expires_in"])
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            return _settings_response(request, ApiTokenForm(user=request.user), new_token=token, secret=secret)
    return _settings_response(request, form)


@require_POST
def api_token_revoke(request, token_id: int):
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    try:
        services.api_token_revoke(token=token, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Token “{token.name}” revoked. Clients using it now get 401.")
    return redirect("portal:settings")
