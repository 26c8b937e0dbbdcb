"""Reverting a record to one of its versions: a POST from the version's page, on the record's
own view, so that its role applies (editors for records, admins for operators)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose

from webapp import versions
from webapp.admin.features.concurrency import VersionedViewMixin
from webapp.admin.inputs.ids import parse_id
from webapp.extensions import db
from webapp.models.enums import OperatorRole


class RevertViewMixin(VersionedViewMixin):
    """``POST revert/?id=`` with ``to_version`` and ``version`` (the version the operator saw):
    the old values of the form's fields become a new change, or a refusal that writes nothing.
    A record changed since is refused with the message of a stale save (``concurrency``)."""

    endpoint_roles: ClassVar[Mapping[str, OperatorRole]] = {"revert_view": OperatorRole.EDITOR}

    @expose("/revert/", methods=("POST",))
    def revert_view(self) -> Any:
        record = db.session.get(self.model, parse_id(request.args.get("id", "")) or 0)
        number = parse_id(request.form.get("to_version", ""))
        if record is None or number is None:
            abort(404)
        found = versions.version_of(record, self.model.__name__, number)
        if found is None:
            abort(404)
        noun = self.model.__name__.lower()
        revert = versions.Revert(record, found[0], self.form_columns or (), noun)
        try:
            revert.apply(parse_id(request.form.get("version", "")))
        except versions.StaleVersion:
            self.flash_conflict()  # back to the History, which shows what changed meanwhile
            return redirect(self._history_url(record))
        except versions.RevertRefused as refusal:
            flash(f"{refusal} Nothing was changed.", "error")
            return redirect(self._history_url(record, number))
        db.session.commit()
        flash(f"Reverted this {noun} to version {number}: it is now version {record.version}.", "success")
        return redirect(self._history_url(record))

    def _history_url(self, record: Any, number: int | None = None) -> str:
        where = {"model": self.model.__name__, "object_id": str(record.id)}
        if number is None:
            return url_for("audit.history", **where)
        return url_for("audit.version_view", number=number, **where)
