"""One log line per request on stdout, as text or JSON, tagged with the request id.

The line is written by a WSGI middleware when the response body is closed, so the duration
covers streaming too and the line is written the same way under gunicorn, ``flask run`` and the
tests. It is the access log: gunicorn's own access log stays off so each request is logged once.

The request id comes from the proxy's ``X-Request-ID`` (nginx: ``$request_id``) when it looks
like an id, otherwise a new one is generated; either way it is echoed in the response header
and attached to every log record written while the request is handled.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask, has_request_context, request
from werkzeug.wrappers import Request
from werkzeug.wsgi import ClosingIterator

from webapp.log_redaction import redact

REQUEST_ID_ENVIRON_KEY = "webapp.request_id"
REQUEST_ID_HEADER = "X-Request-ID"
# Ids end up in log lines and response headers: anything that could forge a line or a header
# (spaces, quotes, control characters) or flood the log is replaced by a generated id.
ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
HANDLER_NAME = "webapp.stdout"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

request_logger = logging.getLogger("webapp.request")


def accepted_request_id(candidate: str | None) -> str:
    if candidate and ACCEPTABLE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    if not has_request_context():
        return None
    return request.environ.get(REQUEST_ID_ENVIRON_KEY)


class RequestIdFilter(logging.Filter):
    """Gives every record a ``request_id`` (``-`` outside a request) for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


def logged_errors(record: logging.LogRecord) -> list[BaseException]:
    """The exceptions a record's text is made of: its traceback's, and any formatted into its message."""
    arguments = record.args.values() if isinstance(record.args, Mapping) else record.args or ()
    exception = record.exc_info[1] if record.exc_info else None
    return [value for value in (record.msg, *arguments, exception) if isinstance(value, BaseException)]


class RedactingFormatter(logging.Formatter):
    """Every line with each database error written without the values it carried.

    The whole formatted text is redacted, not only ``formatException``: a message may name the
    error too, and ``logging`` reuses the traceback text another handler cached on the record.
    """

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), logged_errors(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a traceback stays inside its record instead of spanning lines."""

    def format(self, record: logging.LogRecord) -> str:
        errors = logged_errors(record)
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage(), errors),
            "request_id": getattr(record, "request_id", "-"),
            **getattr(record, "http", {}),
        }
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info), errors)
        return json.dumps(payload, default=str)


def formatter_for(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    return RedactingFormatter(TEXT_FORMAT)


def configure_logging(log_format: str) -> None:
    """Send the app's loggers to stdout; safe to call once per app (the tests build many)."""
    logger = logging.getLogger("webapp")
    handler = next((h for h in logger.handlers if h.get_name() == HANDLER_NAME), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stdout)
        handler.set_name(HANDLER_NAME)
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
    handler.setFormatter(formatter_for(log_format))
    logger.setLevel(logging.INFO)
    # The root logger may write to stdout too (gunicorn.conf.py): do not print lines twice.
    logger.propagate = False


def gunicorn_logging(log_format: str) -> dict[str, Any]:
    """``logconfig_dict`` for gunicorn: its own messages on stdout in the app's format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"app": {"()": formatter_for, "log_format": log_format}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "app",
                "filters": ["request_id"],
            }
        },
        "root": {"level": "INFO", "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
    }


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RequestLogMiddleware:
    """Assigns the request id, echoes it in the response and logs the request when it is done."""

    def __init__(self, wsgi_app: WsgiApp) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = accepted_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[REQUEST_ID_ENVIRON_KEY] = request_id
        outcome = {"status": 500}

        def start_with_request_id(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            outcome["status"] = int(status.split(" ", 1)[0])
            headers = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        def log_request() -> None:
            log_finished_request(environ, request_id, outcome["status"], time.perf_counter() - started)

        try:
            body = self.wsgi_app(environ, start_with_request_id)
        except BaseException:
            log_request()
            raise
        return ClosingIterator(body, log_request)


def log_finished_request(environ: dict[str, Any], request_id: str, status: int, seconds: float) -> None:
    # The query string is left out on purpose: admin searches and filters carry personal data.
    finished = Request(environ, shallow=True)
    fields = {
        "method": finished.method,
        "path": finished.script_root + finished.path,
        "status": status,
        "duration_ms": round(seconds * 1000, 1),
        "remote_addr": finished.remote_addr,
    }
    request_logger.info(
        "%(method)s %(path)s %(status)s %(duration_ms).1fms %(remote_addr)s",
        fields,
        extra={"request_id": request_id, "http": fields},
    )


def init_request_logging(app: Flask) -> None:
    configure_logging(app.config["LOG_FORMAT"])
    # Flask types wsgi_app as a method, though wrapping it in middleware is the documented way.
    app.wsgi_app = RequestLogMiddleware(app.wsgi_app)  # type: ignore[method-assign]
