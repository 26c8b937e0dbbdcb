"""A record's History: its changes and versions, one version as it was, two side by side.

Served by the audit log's view (read-only pages; the revert they offer posts to the record's own
view, ``features/versions.py``, which checks that view's role). Each page shows a record only to
an operator who may open the record's own list, as the audit log does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import Admin, expose
from flask_login import current_user

from webapp import versions
from webapp.admin import compat
from webapp.admin.inputs.ids import parse_id
from webapp.admin.listing.audit_labels import AuditLabels, Shown, values_of_changes, values_of_state
from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.auth.permissions import current_operator_has
from webapp.extensions import db
from webapp.models import AuditEntry, OperatorRole

# Audited subjects with no page of their own (an operator's saved views): admins read their
# entries in the log; their history page shows an admin every entry, anyone else their own.
PAGELESS_SUBJECTS = ("SavedView",)


def model_views(admin: Admin) -> dict[str, Any]:
    """The model views of the admin site, by model class name (the ``model`` of an entry)."""
    return {
        view.model.__name__: view
        for view in compat.registered_views(admin)
        if getattr(view, "model", None) is not None and view.model is not AuditEntry
    }


def audit_labels(admin: Admin, shown: Iterable[Shown]) -> AuditLabels:
    """The labels of the values one page shows, named as each model's own view names its columns."""
    views = model_views(admin)

    def column_name(model: str, field: str) -> str:
        view = views.get(model)
        return view.get_column_name(field) if view is not None else field.replace("_", " ").capitalize()

    return AuditLabels({name: view.model for name, view in views.items()}, column_name).read(shown)


def record_view_url(view: Any, object_id: str) -> str:
    endpoint = "edit_view" if view.can_edit else "details_view"
    return url_for(f"{view.endpoint}.{endpoint}", id=object_id)


class RecordHistoryMixin(ModelViewMixinBase):
    """The History pages of every audited record."""

    def _record_view(self, model: str) -> Any:
        record_view = model_views(self.admin).get(model)
        if record_view is None:
            abort(404)
        if not record_view.is_accessible():
            abort(403)
        return record_view

    def _stored_record(self, model: str, object_id: str) -> Any:
        """The row whatever its state (live or in the trash), for its current version."""
        record_view = self._record_view(model)
        number = parse_id(object_id)
        return None if number is None else db.session.get(record_view.model, number)

    @expose("/history/<model>/<object_id>")
    def history(self, model: str, object_id: str) -> str:
        """Every change to one record, newest first (Django's "History" page), each with the
        version it made when the record is versioned."""
        if model in PAGELESS_SUBJECTS:
            return self._pageless_history(model, object_id)
        record_view = self._record_view(model)
        entries = versions.entries_of(model, object_id)
        stored = self._stored_record(model, object_id)
        complete = len(entries) < versions.HISTORY_LIMIT
        found = versions.versions_of(stored, entries, complete) if versions.is_versioned(stored) else []
        record = record_view.get_one(object_id)
        shown = [value for entry in entries for value in values_of_changes(model, entry.changes)]
        return self.render(
            "admin/audit_log/history.html",
            entries=entries,
            versions=found,
            version_of_entry={version.entry.id: version for version in found if version.entry is not None},
            model=model,
            object_id=object_id,
            record=record,
            record_url=record_view_url(record_view, object_id) if record is not None else None,
            labels=audit_labels(self.admin, shown),
            limit=versions.HISTORY_LIMIT,
        )

    def _pageless_history(self, model: str, object_id: str) -> str:
        """The entries of a subject without a page: every one for an admin, else one's own."""
        operator_id = None if current_operator_has(OperatorRole.ADMIN) else current_user.id
        entries = versions.entries_of(model, object_id, operator_id=operator_id)
        shown = [value for entry in entries for value in values_of_changes(model, entry.changes)]
        return self.render(
            "admin/audit_log/history.html",
            entries=entries,
            versions=[],
            version_of_entry={},
            model=model,
            object_id=object_id,
            record=None,
            record_url=None,
            pageless=True,
            labels=audit_labels(self.admin, shown),
            limit=versions.HISTORY_LIMIT,
        )

    def _versions_or_404(self, model: str, object_id: str, numbers: Sequence[int | None]) -> Any:
        stored = self._stored_record(model, object_id)
        if not versions.is_versioned(stored) or None in numbers:
            abort(404)
        found = versions.version_of(stored, model, min(number for number in numbers if number is not None))
        if found is None:
            abort(404)
        by_number = {version.number: version for version in found[1]}
        if any(number not in by_number for number in numbers):
            abort(404)
        return stored, [by_number[number] for number in numbers if number is not None]

    @expose("/history/<model>/<object_id>/version/<number>")
    def version_view(self, model: str, object_id: str, number: str) -> str:
        """The record as version ``number`` left it, with a revert to it for those who may."""
        stored, [version] = self._versions_or_404(model, object_id, [parse_id(number)])
        record_view = self._record_view(model)
        return self.render(
            "admin/audit_log/version.html",
            model=model,
            object_id=object_id,
            record=stored,
            version=version,
            fields=_fields(record_view, version.state),
            labels=audit_labels(self.admin, values_of_state(model, version.state)),
            revert_url=self._revert_url(record_view, stored, version),
        )

    @expose("/history/<model>/<object_id>/compare")
    def compare_view(self, model: str, object_id: str) -> Any:
        """Two versions side by side, the fields that differ marked in words as well as colour."""
        numbers = [parse_id(request.args.get(name, "")) for name in ("from", "to")]
        if None in numbers:
            flash("Choose the two versions to compare.", "error")
            return redirect(url_for(".history", model=model, object_id=object_id))
        stored, (older, newer) = self._versions_or_404(model, object_id, sorted(numbers))  # type: ignore[type-var]
        record_view = self._record_view(model)
        shown = [*values_of_state(model, older.state), *values_of_state(model, newer.state)]
        fields = _fields(record_view, {**older.state, **newer.state})
        return self.render(
            "admin/audit_log/compare.html",
            model=model,
            object_id=object_id,
            record=stored,
            older=older,
            newer=newer,
            changed=newer.changed_from(older) & set(fields),
            fields=fields,
            labels=audit_labels(self.admin, shown),
        )

    def _revert_url(self, record_view: Any, record: Any, version: versions.Version) -> str | None:
        if not record_view.may("revert_view") or version.number == record.version:
            return None
        return url_for(f"{record_view.endpoint}.revert_view", id=record.id)


def _fields(record_view: Any, state: dict[str, Any]) -> list[str]:
    """The fields the record's form and details page show, in their order, and whether it was in
    the trash; the trash's bookkeeping (who, which batch) stays in the entries."""
    shown = [*(record_view.form_columns or ()), *(record_view.column_details_list or ()), "deleted_at"]
    return [name for name in dict.fromkeys(shown) if name in state]
