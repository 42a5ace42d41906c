"""Where an action comes from (agent in the browser, API, bulk job, scheduled task, system, or an approved
request: the action a manager's approval carries out, see portal/approvals.py).

Services do not take a `source` argument on every call: the entry point sets it once (the API decorator, a
Celery task) and `audit_record` / activity events read it. Defaults to "agent".
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

SOURCES = ("agent", "system", "api", "bulk", "scheduled", "approval")
# How the logs name each source ("agent" is a person working in the portal's pages, whatever their role).
SOURCE_LABELS = {"agent": "in the portal", "system": "by the system", "api": "through the API",
                 "bulk": "by a bulk job", "scheduled": "by a scheduled task",
                 "approval": "on approval of a request"}
_source: ContextVar[str] = ContextVar("portal_action_source", default="agent")


def current_source() -> str:
    return _source.get()


@contextlib.contextmanager
def action_source(source: str):
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


def current_request_id() -> str:
    import structlog

    return str(structlog.contextvars.get_contextvars().get("request_id", ""))
