"""Soft delete for model views: "delete" hides a row; the normal list never shows hidden rows."""

from __future__ import annotations

from typing import Any

from flask_login import current_user
from sqlalchemy import select

from webapp.database import utcnow
from webapp.extensions import db


class SoftDeleteViewMixin:
    """Filters deleted rows out of lists, counts, exports and direct URLs; delete sets deleted_at.

    Flask-Admin's ``get_one`` (used by edit and details pages) does not go through ``get_query``,
    so it is overridden as well: a deleted row's URL must not show or edit it. Views are given
    ``db`` (not a session), so ``self.session`` is the extension: queries go through ``db.session``.
    """

    model: Any

    def get_query(self) -> Any:
        return super().get_query().filter(self.model.live())  # type: ignore[misc]

    def get_count_query(self) -> Any:
        return super().get_count_query().filter(self.model.live())  # type: ignore[misc]

    def get_one(self, id: Any) -> Any:
        return db.session.scalar(
            select(self.model).where(self.model.id == id, self.model.live())
        )

    def delete_model(self, model: Any) -> bool:
        try:
            self.on_model_delete(model)  # type: ignore[attr-defined]
            model.deleted_at = utcnow()
            model.deletion_batch = model.new_deletion_batch()
            model.deleted_by_id = current_user.id
            db.session.commit()
        except Exception as error:  # noqa: BLE001 - reported to the operator, then rolled back
            db.session.rollback()
            self.handle_view_exception(error)  # type: ignore[attr-defined]
            return False
        self.after_model_delete(model)  # type: ignore[attr-defined]
        return True
