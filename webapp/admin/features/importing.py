"""*Import* on a model's list: upload a CSV or .xlsx file, read the preview, apply it (all or
nothing, or the valid rows), and undo it; the domain work is ``webapp.imports``'.

Every step is a request of its own with its state in the database (the batch and its planned
rows), so any worker serves the next one and an operator who closed the tab finds the import
again from the audit log (each entry links to its batch's page). The apply runs in the request,
in one transaction that reports progress to gunicorn between chunks (``webapp.heartbeat``): a
worker killed in the middle rolls everything back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from flask import Response, abort, current_app, flash, redirect, request, stream_with_context, url_for
from flask_admin import expose
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.utils import secure_filename

from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.extensions import db
from webapp.imports.applying import ImportRefused, apply_batch, database_refusal, undo_batch
from webapp.imports.batches import SHOWN_REFUSALS, planner_for, refusals_csv, sample_rows, store_preview
from webapp.imports.files import FileRefused
from webapp.imports.planning import Options
from webapp.imports.specs import ModelSpec, spec_for
from webapp.models import ImportBatch, ImportState, OperatorRole, RowAction

BATCH_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RECENT_IMPORTS = 10


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
        )

    @expose("/import/upload/", methods=("POST",))
    def import_upload_view(self) -> Any:
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("Choose a CSV or .xlsx file to import.", "error")
            return redirect(url_for(".import_view"))
        filename = secure_filename(upload.filename) or "upload.csv"
        options = Options(
            update_matching=bool(request.form.get("update_matching")),
            create_missing_tags=bool(request.form.get("create_missing_tags")),
        )
        try:
            planner = planner_for(self.model.__name__, upload.stream, filename, options)
            batch = store_preview(planner, filename, options)
            db.session.commit()
        except FileRefused as refusal:
            db.session.rollback()
            flash(f"“{filename}” was not imported: {refusal}", "error")
            return redirect(url_for(".import_view"))
        return redirect(url_for(".import_batch_view", batch_id=batch.id))

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
        return self.render(
            "admin/imports/batch.html",
            batch=batch,
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
        try:
            outcome = step()
            db.session.commit()
        except ImportRefused as refusal:
            db.session.rollback()
            flash(str(refusal), "error")
            for number, message in refusal.rows[:20]:
                flash(f"Row {number}: {message}", "error")
            return redirect(url_for(".import_batch_view", batch_id=batch_id))
        except SQLAlchemyError as error:
            db.session.rollback()
            flash(database_refusal(error), "error")
            return redirect(url_for(".import_batch_view", batch_id=batch_id))
        if verb == "Imported":
            message = f"{verb} {filename}: {outcome.created:,} created, {outcome.updated:,} updated"
        else:
            message = f"{verb} the import of {filename}: {outcome.created:,} moved away, {outcome.updated:,} restored"
        left = outcome.refused or outcome.left_alone
        flash(message + (f"; {len(left):,} left out (listed below)." if left else "."), "success")
        return redirect(url_for(".import_batch_view", batch_id=batch_id))

    @expose("/import/<batch_id>/refusals.csv", methods=("GET",))
    def import_refusals_view(self, batch_id: str) -> Response:
        batch = self._import_batch(batch_id)
        stem = batch.filename.rsplit(".", 1)[0]
        return Response(
            stream_with_context(refusals_csv(batch)),
            headers={"Content-Disposition": f"attachment; filename={secure_filename(stem + '-refused.csv')}"},
            mimetype="text/csv",
        )
