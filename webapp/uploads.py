"""A larger request body for the endpoints that take a file (an import's upload), and the usual
``MAX_CONTENT_LENGTH`` for every other.

The limit must be known before anything reads the body, the CSRF check included (it parses the
form in a ``before_request``): the request itself answers it, from the endpoint its URL matched,
which Flask knows by then. A body over either limit gets the 413 page, never a 500.
"""

from __future__ import annotations

from flask import Flask, current_app
from flask.wrappers import Request

# Endpoints (``task.import_upload_view``) whose body may be up to ``IMPORT_MAX_MB``.
UPLOAD_ENDPOINT_SUFFIX = ".import_upload_view"


class UploadRequest(Request):
    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is not None:
            return self._max_content_length
        rule = self.url_rule
        if current_app and rule is not None and rule.endpoint.endswith(UPLOAD_ENDPOINT_SUFFIX):
            return int(current_app.config["IMPORT_MAX_MB"]) * 1024 * 1024
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


def init_uploads(app: Flask) -> None:
    app.request_class = UploadRequest
