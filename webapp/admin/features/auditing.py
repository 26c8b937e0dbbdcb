"""Audit entries for every change made through an admin form, written in the same transaction."""

from __future__ import annotations

from typing import Any

from webapp import audit
from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.extensions import db
from webapp.models import AuditAction


class AuditedViewMixin(ModelViewMixinBase):
    """Hooks Flask-Admin's model-change callbacks, which run after the form is applied to the row
    and before the session commits: the entry and the change land together or not at all.

    Its edit and details pages link to the record's history, as Django's admin does."""

    edit_template = details_template = "admin/audited_record/record.html"
    # Whether the audit log holds this model's changes, so its pages link to a record's history.
    has_history = True

    def update_model(self, form: Any, model: Any) -> bool:
        # Assigning a collection (tags) lazy-loads the old one, and that load would autoflush the
        # scalar fields the form already set, wiping their history before we can read the diff.
        with db.session.no_autoflush:
            return super().update_model(form, model)

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        super().on_model_change(form, model, is_created)
        if is_created:
            db.session.flush()  # the entry needs the new row's id
            audit.record(AuditAction.CREATE, model, changes=audit.creation_values(model))
            return
        changes = audit.pending_changes(model)
        if changes:
            fields = ", ".join(sorted(field.replace("_", " ") for field in changes))
            audit.record(AuditAction.UPDATE, model, summary=f"Changed {fields} of “{model}”", changes=changes)

    def on_model_delete(self, model: Any) -> None:
        super().on_model_delete(model)
        audit.record(AuditAction.DELETE, model)
