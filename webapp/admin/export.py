"""CSV export that streams: rows leave the database in batches and the response in lines.

Flask-Admin's export materializes the whole result (``query.all()``) before the first byte goes
out; at a million rows that is gigabytes in one worker. This one runs the list's own query (same
search, filters, sort and soft-delete scope) with ``yield_per``, so memory stays flat.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, g, stream_with_context
from werkzeug.utils import secure_filename

from webapp.admin.display import EXPORT_FORMATTERS
from webapp.extensions import db

EXPORT_BATCH_SIZE = 1000
_EXPORTING = "admin_list_exporting"


@contextmanager
def exporting() -> Iterator[None]:
    """Mark the list query being built as an export's (see :func:`is_exporting`).

    Flask-Admin builds it with the list's own ``get_list``, whose signature has no room for that,
    and the view object is shared by every request and thread: the mark lives on the request.
    """
    g.setdefault(_EXPORTING, True)
    try:
        yield
    finally:
        g.pop(_EXPORTING, None)


def is_exporting() -> bool:
    """An export's query is not counted (the first byte must not wait for a count of a million
    rows), and loads collections batch by batch (``yield_per`` cannot join a collection)."""
    return bool(g.get(_EXPORTING))


class _Line:
    """A file-like object whose ``write`` hands the CSV line back instead of storing it."""

    def write(self, line: str) -> str:
        return line


class StreamingExportMixin:
    column_type_formatters_export = EXPORT_FORMATTERS
    export_types = ["csv"]

    def export_query(self) -> Any:
        view_args = self._get_list_extra_args()  # type: ignore[attr-defined]
        sort = self._get_column_by_idx(view_args.sort)  # type: ignore[attr-defined]
        with exporting():
            _, query = self.get_list(  # type: ignore[attr-defined]
                0,
                sort[0] if sort else None,
                view_args.sort_desc,
                view_args.search,
                view_args.filters,
                execute=False,
                page_size=0,
            )
        return query.yield_per(EXPORT_BATCH_SIZE)

    def _export_csv(self, return_url: str) -> Response:
        columns = self._export_columns  # type: ignore[attr-defined]
        writer = csv.writer(_Line())
        rows = self.export_query()

        def generate() -> Iterator[str]:
            # The query was built in the request's session, which is closed once the view returns;
            # iterating it there would open a transaction nobody closes. The stream runs in its own
            # app context, whose session is removed when the stream ends.
            yield writer.writerow([label for _, label in columns])
            for row in rows.with_session(db.session()):
                yield writer.writerow([self.get_export_value(row, name) for name, _ in columns])  # type: ignore[attr-defined]

        filename = secure_filename(self.get_export_name("csv"))  # type: ignore[attr-defined]
        return Response(
            stream_with_context(generate()),
            headers={"Content-Disposition": f"attachment; filename={filename}"},
            mimetype="text/csv",
        )
