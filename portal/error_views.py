"""The error answers (handler400/403/404/500 in portal/urls.py): under /api/ always the API's JSON error body,
elsewhere Django's pages from templates/.

Errors raised inside an endpoint are answered by portal.api.api_view; these cover everything that happens before
or around one: an unknown URL, a body over the upload limit, input refused by RequestInputMiddleware, and any
unexpected exception (which Django has already logged, with its traceback, when handler500 runs).
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.shortcuts import render
from django.views import defaults
from django_htmx.http import trigger_client_event

from portal.api import error_response, is_api_request
from portal.inputs import InvalidInput

TOO_LARGE = ("The request body is larger than the server accepts. Send less at once (notes and bodies are short "
             "text; bulk work goes through a bulk job).")


def bad_request(request, exception=None):
    if isinstance(exception, (RequestDataTooBig, TooManyFilesSent)):
        status, code, message = 413, "too_large", TOO_LARGE
    elif isinstance(exception, TooManyFieldsSent):
        status, code, message = 400, "too_many_fields", "The request sends more fields than any form here has."
    elif isinstance(exception, InvalidInput):
        status, code, message = 400, exception.code, exception.message
    else:
        status, code, message = 400, "bad_request", "The request could not be understood."
    if is_api_request(request):
        return error_response(status, code, message)
    response = render(request, "400.html", {"message": message}, status=status)
    if request.headers.get("HX-Request") == "true":  # htmx swaps no 4xx body: say it in a toast instead
        trigger_client_event(response, "toast", {"message": message, "level": "error"})
    return response


def permission_denied(request, exception=None):
    if is_api_request(request):
        return error_response(403, "forbidden", "Your role does not allow this.")
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    if is_api_request(request):
        return error_response(404, "not_found", "There is no API endpoint at this URL.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if is_api_request(request):
        return error_response(500, "server_error", "Something went wrong on our side. Try again in a moment, and tell "
                                                   "the portal administrators if it keeps happening.")
    return defaults.server_error(request)
