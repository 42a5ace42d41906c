"""Project middleware: one input check for every route, no caching of pages, no debug pages for anonymous
visitors, sliding idle sessions, and a benchmark aid that counts SQL queries per response."""

import time

from django.conf import settings
from django.db import connection
from django.http import Http404
from django.urls import get_resolver, get_urlconf

from portal.api import is_api_request
from portal.error_views import bad_request
from portal.inputs import InvalidInput, check_text

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RequestInputMiddleware:
    """Refuse a request whose path, query or form fields hold a character no input may hold (portal/inputs.py),
    before any view, form or query sees it: one check for every route, including values views read directly
    (a URL segment, a suggestion query). JSON bodies get the same check in portal.api.json_body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            check_text(request.path)
            for key, values in request.GET.lists():
                check_text(key, *values)
            # API bodies are JSON, checked as they are parsed (portal.api.json_body); reading one here as a form
            # would leave the endpoint a stream already consumed.
            if (request.method == "POST" and request.content_type in FORM_CONTENT_TYPES
                    and not is_api_request(request)):
                for key, values in request.POST.lists():
                    check_text(key, *values)
        except InvalidInput as exc:
            return bad_request(request, exc)
        return self.get_response(request)


class QueryCountHeaderMiddleware:
    """Benchmarks only (QUERY_COUNT_HEADER=1): every response says how many SQL queries it ran (X-Query-Count)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        count = 0

        def counter(execute, sql, params, many, context):
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        response["X-Query-Count"] = str(count)
        return response


class SlidingSessionMiddleware:
    """Idle timeout without a session write on every request.

    A session expires SESSION_COOKIE_AGE seconds after it was last saved. Saving it on every request
    (SESSION_SAVE_EVERY_REQUEST) costs an UPDATE per page; instead the expiry is pushed forward when the last push
    is more than SESSION_SLIDE_SECONDS old, so an active agent is never signed out and an idle one is signed out
    within a minute of the idle limit.
    """

    KEY = "_slid_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and session.session_key and not session.is_empty():
            now = int(time.time())
            if now - session.get(self.KEY, 0) >= settings.SESSION_SLIDE_SECONDS:
                session[self.KEY] = now  # marks the session modified: SessionMiddleware saves it with a new expiry
        return response


class NoStoreMiddleware:
    """Nothing the application answers is kept by a browser or a shared cache: pages and API responses carry
    personal data, and a page left in the browser's cache outlives the session that was allowed to see it.

    Sits below WhiteNoiseMiddleware, so static files (answered above it) keep their long-lived cache headers.
    A view that sets its own Cache-Control keeps it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store, private"
        return response


class NoDebugPagesForAnonymousMiddleware:
    """With DEBUG on (`make run`), Django answers errors with its technical pages: the 404 one lists every URL of
    the portal, the 500 one a traceback and the settings. Only a signed-in user sees those; an anonymous visitor gets
    the same plain error page production serves (the project's 400/404/500 handlers and templates), and an API
    client always gets the API's JSON error body, as in production.

    Sits above every middleware that can fail, so it sees the technical page each of them is turned into.
    """

    STATUSES = (400, 404, 500)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code in self.STATUSES
            and response.get("Content-Type", "").startswith("text/html")
            and (not self._signed_in(request) or is_api_request(request))
        ):
            return self._plain_page(request, response.status_code)
        return response

    @staticmethod
    def _signed_in(request) -> bool:
        user = getattr(request, "user", None)  # absent when the failure came before authentication
        return user is not None and user.is_authenticated

    @staticmethod
    def _plain_page(request, status: int):
        handler = get_resolver(get_urlconf()).resolve_error_handler(status)
        if status == 500:
            return handler(request)
        return handler(request, Http404() if status == 404 else None)
