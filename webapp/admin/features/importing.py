"""*Import* on a model's list: upload a CSV or .xlsx file, read the preview, apply it (all or
nothing, or the valid rows), and undo it; the domain work is ``webapp.imports``'.

Every step is a request of its own with its state in the database (the batch and its planned
rows), so any worker serves the next one and an operator who closed the tab finds the import
again from the audit log (each entry links to its batch's page). The preview, the apply and the
undo run in their request, each in one transaction (a worker killed in the middle rolls it all
back), and record their progress beside it per chunk (``webapp.imports.progress``).

The pages' script (``static/js/imports.js``) sends their forms with ``fetch`` and, meanwhile,
polls ``progress.json`` to draw a progress bar; asked for JSON, a step answers with the address
to go to instead of a redirect, so the flashed message waits for that page. Without script the
forms post and redirect as usual. The request goes on whether or not anyone waits for its
answer: a sync worker notices a closed connection only when it writes the response.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from flask import Response, abort, current_app, flash, jsonify, redirect, request, stream_with_context, url_for
from flask_admin import expose
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.utils import secure_filename

from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.auth.permissions import wants_json
from webapp.extensions import db
from webapp.imports import progress
from webapp.imports.applying import ImportRefused, apply_batch, database_refusal, undo_batch
from webapp.imports.batches import SHOWN_REFUSALS, planner_for, refusals_csv, sample_rows, store_preview
from webapp.imports.files import FileRefused
from webapp.imports.planning import Options
from webapp.imports.specs import ModelSpec, spec_for
from webapp.models import ImportBatch, ImportState, OperatorRole, RowAction
from webapp.models.imports import new_batch_id

BATCH_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RECENT_IMPORTS = 10
# Where the upload page's script puts the id it chose for the batch in the progress address.
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"


class ImportingViewMixin(ModelViewMixinBase):
    """Adds the import pages to a model view whose model ``webapp.imports.specs`` knows, and
    makes its export write the columns the import reads (the record's ID first)."""

    endpoint_roles: ClassVar[Mapping[str, OperatorRole]] = {
        name: OperatorRole.EDITOR
        for name in (
            "import_view",
            "import_upload_view",
            "import_batch_view",
            "import_apply_view",
            "import_undo_view",
            "import_refusals_view",
            "import_progress_view",
        )
    }

    def import_spec(self) -> ModelSpec:
        return spec_for(self.model.__name__, current_app.config["DISPLAY_TIMEZONE"])

    def get_export_columns(self) -> list[tuple[str, str]]:
        """The import's columns, unless the view lists its export's itself (then it exports
        what it lists, and that file may not import)."""
        if self.column_export_list is not None:
            return list(super().get_export_columns())
        # Called when the view is built, before any request: the columns do not depend on the zone.
        return spec_for(self.model.__name__, "UTC").export_columns()

    @property
    def can_import(self) -> bool:
        return bool(self.may("import_upload_view"))

    @expose("/import/", methods=("GET",))
    def import_view(self) -> Any:
        recent = db.session.scalars(
            select(ImportBatch)
            .where(ImportBatch.model == self.import_spec().name)
            .order_by(ImportBatch.created_at.desc())
            .limit(RECENT_IMPORTS)
        )
        return self.render(
            "admin/imports/upload.html",
            spec=self.import_spec(),
            recent=list(recent),
            limit_mb=current_app.config["IMPORT_MAX_MB"],
            max_rows=current_app.config["IMPORT_MAX_ROWS"],
            progress_url=url_for(".import_progress_view", batch_id=PLACEHOLDER_ID),
        )

    @expose("/import/upload/", methods=("POST",))
    def import_upload_view(self) -> Any:
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("Choose a CSV or .xlsx file to import.", "error")
            return _go_to(url_for(".import_view"))
        batch_id = self._new_batch_id(request.form.get("batch_id", ""))
        filename = secure_filename(upload.filename) or "upload.csv"
        options = Options(
            update_matching=bool(request.form.get("update_matching")),
            create_missing_tags=bool(request.form.get("create_missing_tags")),
        )
        try:
            planner = planner_for(self.model.__name__, upload.stream, filename, options)
            batch = store_preview(planner, filename, options, batch_id)
            db.session.commit()
        except FileRefused as refusal:
            db.session.rollback()
            progress.abandon(batch_id)
            flash(f"“{filename}” was not imported: {refusal}", "error")
            return _go_to(url_for(".import_view"))
        return _go_to(url_for(".import_batch_view", batch_id=batch.id))

    @staticmethod
    def _new_batch_id(chosen: str) -> str:
        """The id the page chose to poll the preview's progress by, if it is one and is free."""
        if BATCH_ID.match(chosen) and chosen != PLACEHOLDER_ID and db.session.get(ImportBatch, chosen) is None:
            return chosen
        return new_batch_id()

    def _import_batch(self, batch_id: str) -> ImportBatch:
        if not BATCH_ID.match(batch_id):
            abort(404)
        batch = db.session.get(ImportBatch, batch_id)
        if batch is None or batch.model != self.import_spec().name:
            abort(404)
        return batch

    @expose("/import/<batch_id>/", methods=("GET",))
    def import_batch_view(self, batch_id: str) -> Any:
        batch = self._import_batch(batch_id)
        last = progress.current(batch.id)
        return self.render(
            "admin/imports/batch.html",
            batch=batch,
            stopped=last if last is not None and not progress.is_running(last) else None,
            spec=self.import_spec(),
            previewed=batch.state is ImportState.PREVIEWED,
            samples=sample_rows(batch, RowAction.CREATE, RowAction.UPDATE),
            refusals=sample_rows(batch, RowAction.REFUSED, limit=SHOWN_REFUSALS),
            refused=batch.counts.get(RowAction.REFUSED.value, 0),
        )

    @expose("/import/<batch_id>/apply/", methods=("POST",))
    def import_apply_view(self, batch_id: str) -> Any:
        batch = self._import_batch(batch_id)
        valid_only = request.form.get("mode") == "valid_rows"
        return self._import_step(
            batch, lambda: apply_batch(batch.id, self._import_timezone(), valid_only=valid_only), "Imported"
        )

    @expose("/import/<batch_id>/undo/", methods=("POST",))
    def import_undo_view(self, batch_id: str) -> Any:
        batch = self._import_batch(batch_id)
        return self._import_step(batch, lambda: undo_batch(batch.id, self._import_timezone()), "Undid")

    def _import_timezone(self) -> str:
        return str(current_app.config["DISPLAY_TIMEZONE"])

    def _import_step(self, batch: ImportBatch, step: Any, verb: str) -> Any:
        """Run the apply or the undo in one transaction; a refusal or a database error rolls all
        of it back and says why on the batch's page."""
        batch_id, filename = batch.id, batch.filename
        here = url_for(".import_batch_view", batch_id=batch_id)
        try:
            outcome = step()
            db.session.commit()
        except ImportRefused as refusal:
            db.session.rollback()
            progress.abandon(batch_id)
            flash(str(refusal), "error")
            for number, message in refusal.rows[:20]:
                flash(f"Row {number}: {message}", "error")
            return _go_to(here)
        except SQLAlchemyError as error:
            db.session.rollback()
            progress.abandon(batch_id)
            flash(database_refusal(error), "error")
            return _go_to(here)
        if verb == "Imported":
            message = f"{verb} {filename}: {outcome.created:,} created, {outcome.updated:,} updated"
        else:
            message = f"{verb} the import of {filename}: {outcome.created:,} moved away, {outcome.updated:,} restored"
        left = outcome.refused or outcome.left_alone
        flash(message + (f"; {len(left):,} left out (listed below)." if left else "."), "success")
        return _go_to(here)

    @expose("/import/<batch_id>/progress.json", methods=("GET",))
    def import_progress_view(self, batch_id: str) -> Response:
        """How far the batch's running step has got, for the page's progress bar: ``state`` is
        the batch's committed state (None while its preview runs), ``running`` whether a step is
        under way (its progress moved lately)."""
        if not BATCH_ID.match(batch_id):
            abort(404)
        batch = db.session.get(ImportBatch, batch_id)
        if batch is not None and batch.model != self.import_spec().name:
            abort(404)
        now = progress.current(batch_id)
        return jsonify(
            state=batch.state.value if batch is not None else None,
            running=progress.is_running(now),
            phase=now.phase if now is not None else None,
            done=now.done if now is not None else 0,
            total=now.total if now is not None else None,
            url=url_for(".import_batch_view", batch_id=batch_id) if batch is not None else None,
        )

    @expose("/import/<batch_id>/refusals.csv", methods=("GET",))
    def import_refusals_view(self, batch_id: str) -> Response:
        batch = self._import_batch(batch_id)
        stem = batch.filename.rsplit(".", 1)[0]
        return Response(
            stream_with_context(refusals_csv(batch)),
            headers={"Content-Disposition": f"attachment; filename={secure_filename(stem + '-refused.csv')}"},
            mimetype="text/csv",
        )


def _go_to(url: str) -> Any:
    """A redirect, or, for the page's script (which asks for JSON), the address to go to: the
    message flashed meanwhile then shows on that page, not on a page fetched and thrown away."""
    if wants_json():
        return jsonify(url=url)
    return redirect(url)
