"""structlog set-up: key=value lines locally, JSON in production; a request id is bound by django-structlog."""

import structlog

_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso"),
]
FOREIGN_PRE_CHAIN = _SHARED
_state = {"json": False}


def renderer(logger, method_name, event_dict):
    render = structlog.processors.JSONRenderer() if _state["json"] else structlog.dev.ConsoleRenderer(colors=False)
    return render(logger, method_name, event_dict)


def configure_structlog(*, json: bool) -> None:
    _state["json"] = json
    structlog.configure(
        # Below the logger's level an event is dropped first, before the timestamp and the other processors.
        processors=[structlog.stdlib.filter_by_level, *_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
