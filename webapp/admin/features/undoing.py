"""A batch's page on the audit log, and its one "Undo": every bulk action, cascade and import is a
batch (``webapp.audit.batched``), shown together and taken back together.

An import's batch leads to the import's own page, whose undo puts back the values it replaced
(``webapp.imports.applying``); every other batch is undone here by ``webapp.undo``, in one
transaction: a refusal (unknown batch, undone already, nothing left to undo) writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flask import abort, flash, redirect, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from webapp import undo
from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.extensions import db
from webapp.models import AuditEntry, ImportBatch, OperatorRole

SHOWN_ENTRIES = 50


class BatchUndoMixin(ModelViewMixinBase):
    endpoint_roles: ClassVar[Mapping[str, OperatorRole]] = {"batch_undo_view": OperatorRole.EDITOR}

    def readable_models(self) -> list[str]:
        raise NotImplementedError  # the audit log's: entries of models the operator may open

    @expose("/batch/<batch_id>")
    def batch_view(self, batch_id: str) -> Any:
        """An import's page (on its model's list, which checks the role), or the batch's own."""
        batch = db.session.get(ImportBatch, batch_id[:36])
        if batch is not None:
            return redirect(url_for(f"{batch.model}.import_batch_view", batch_id=batch.id))
        return self.batch_page(batch_id[:36])

    def batch_page(self, batch_id: str, outcome: undo.UndoOutcome | None = None) -> Any:
        readable = self.readable_models()
        actions = {key: count for key, count in undo.batch_actions(batch_id).items() if key[0] in readable}
        if not actions:
            abort(404)
        entries = db.session.scalars(
            undo_entries(batch_id).where(AuditEntry.model.in_(readable)).limit(SHOWN_ENTRIES)
        ).all()
        undone = undo.undo_entry(batch_id)
        return self.render(
            "admin/batches/batch.html",
            batch_id=batch_id,
            actions=sorted(actions.items(), key=lambda item: (item[0][0], item[0][1].value)),
            entries=entries,
            total=sum(actions.values()),
            undone=undone,
            outcome=outcome,
        )

    @expose("/batch/<batch_id>/undo", methods=("POST",))
    def batch_undo_view(self, batch_id: str) -> Any:
        try:
            outcome = undo.undo(batch_id[:36], current_user.id)
            db.session.commit()
        except undo.UndoRefused as refusal:
            db.session.rollback()
            flash(str(refusal), "warning")
            return redirect(self.get_url(".batch_view", batch_id=batch_id[:36]))
        except SQLAlchemyError as error:
            db.session.rollback()
            self.handle_view_exception(error)
            return redirect(self.get_url(".batch_view", batch_id=batch_id[:36]))
        flash(undone_message(outcome), "success")
        return self.batch_page(outcome.batch_id, outcome)


def undo_entries(batch_id: str) -> Any:
    return select(AuditEntry).where(AuditEntry.batch_id == batch_id).order_by(AuditEntry.id)


def undone_message(outcome: undo.UndoOutcome) -> str:
    parts = [
        f"{count:,} {name.lower()}{'s' if count != 1 else ''}"
        for name, count in sorted(outcome.undone.items())
        if count
    ]
    message = f"Undone: {', '.join(parts)} put back as they were."
    if outcome.left_alone_count:
        message += f" {outcome.left_alone_count:,} changed since and were left alone (listed below)."
    return message + " This undo is a batch of its own: it can be undone too."
