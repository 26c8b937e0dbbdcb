"""Optimistic locking in edit forms: the second of two operators to save is told, not overwritten.

The form carries the version the row had when it was opened. On save, a different current version
means someone (or a bulk action) changed the row meanwhile: nothing is written and the operator
gets a link to reload. The check and the write are not atomic, so SQLAlchemy's own version check
(``UPDATE … WHERE version = …``, raising ``StaleDataError``) covers the race in between.
"""

from __future__ import annotations

from typing import Any

from flask import flash, request, url_for
from markupsafe import Markup
from sqlalchemy.orm.exc import StaleDataError

from webapp.admin.inputs.forms import OpenedVersionField
from webapp.admin.mixin_bases import ModelViewMixinBase

VERSION_FIELD = "version"


class VersionedViewMixin(ModelViewMixinBase):
    def scaffold_form(self) -> Any:
        form_class = super().scaffold_form()
        setattr(form_class, VERSION_FIELD, OpenedVersionField())
        return form_class

    def update_model(self, form: Any, model: Any) -> bool:
        opened = getattr(form, VERSION_FIELD).opened_version()
        if opened is None:
            # Without it there is nothing to compare: saving would overwrite whatever changed.
            self.flash_unversioned()
            return False
        if opened != model.version:
            self.flash_conflict()
            return False
        return super().update_model(form, model)

    def handle_view_exception(self, exc: Exception) -> bool:
        if isinstance(exc, StaleDataError):
            self.flash_conflict()
            return True
        return super().handle_view_exception(exc)

    def flash_conflict(self) -> None:
        self._flash_with_reload(
            "This {} was changed by someone else since you opened it, so your changes were not saved."
        )

    def flash_unversioned(self) -> None:
        self._flash_with_reload(
            "The form did not say which version of this {} it was opened at, so your changes were not saved."
        )

    def _flash_with_reload(self, reason: str) -> None:
        noun = self.model.__name__.lower()
        arguments: dict[str, Any] = request.args.to_dict()  # the edit page's own id and return URL
        reload = url_for(".edit_view", **arguments)
        flash(
            Markup(
                reason + ' <a href="{}" class="alert-link">Reload the current version</a> and make them again.'
            ).format(noun, reload),
            "error",
        )
