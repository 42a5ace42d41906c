"""What any text a request sends may contain: the one rule, applied before a view runs (the request's path, query
and form fields: portal.middleware.RequestInputMiddleware) and to every JSON body (portal.api.json_body).

Postgres refuses NUL in text ("DataError"), and a lone surrogate (only JSON can carry one, as "\\ud800") cannot be
encoded at all; the other control characters are never typed by a person and only hide text from whoever reads a
note or a tag later. Line breaks and tabs stay allowed: notes are typed in a text area.
"""

from __future__ import annotations

import re

from django.core.exceptions import BadRequest

# C0 controls except tab, line feed and carriage return; DEL; UTF-16 surrogates.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
MESSAGE = ("The request contains a control character (such as NUL) that no field accepts. "
           "Remove it and try again; line breaks and tabs are fine.")


class InvalidInput(BadRequest):
    """Input refused before it reaches a view: a 400 page, or a 400 JSON error under /api/."""

    def __init__(self, message: str = MESSAGE, *, code: str = "invalid_characters"):
        super().__init__(message)
        self.message, self.code = message, code


def has_forbidden_character(value: str) -> bool:
    return _FORBIDDEN.search(value) is not None


def check_text(*values: str) -> None:
    """Raise InvalidInput if any of these strings holds a character no input may hold."""
    if any(has_forbidden_character(value) for value in values):
        raise InvalidInput()
