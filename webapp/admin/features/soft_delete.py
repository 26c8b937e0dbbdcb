"""Soft delete for model views: "delete" moves rows to a trash, from which they are restored or purged.

Deleted rows leave the list, its count, filters and exports (``get_query``/``get_count_query``) and
the edit and details URLs (``AdminModelView.get_one`` goes through ``get_query``). The trash lists
them with when and by whom; restore is for editors, purge (permanent) for admins after a
confirmation page that counts everything that goes with them. The SQL lives in ``webapp.trash``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.helpers import flash_errors
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from webapp import trash
from webapp.admin import compat
from webapp.admin.inputs.ids import parse_id
from webapp.admin.inputs.selection import as_ids, posted_ids, sample
from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.extensions import db
from webapp.models import Operator
from webapp.models.enums import OperatorRole
from webapp.redirects import return_target

TRASH_PAGE_SIZE = 50


class SoftDeleteViewMixin(ModelViewMixinBase):
    model: Any
    endpoint_roles: ClassVar[Mapping[str, OperatorRole]] = {
        "restore_view": OperatorRole.EDITOR,
        "purge_view": OperatorRole.ADMIN,
    }

    def get_query(self) -> Any:
        return super().get_query().filter(self.model.live())

    def get_count_query(self) -> Any:
        return super().get_count_query().filter(self.model.live())

    # -- saving under a parent ------------------------------------------------------------------

    def validate_form(self, form: Any) -> bool:
        return super().validate_form(form) and self._parents_are_live(form)

    def _parents_are_live(self, form: Any) -> bool:
        """The chosen owner (author) is live when the save commits: the picker only offers live
        users, but one may be moved to the trash while the form is saved. Each is locked for the
        rest of the save's transaction, which the form's validation shares, and refused on its
        field if it is in the trash."""
        live = True
        for relationship in trash.parents(self.model):
            field: Any = getattr(form, relationship.key, None)
            chosen = getattr(field, "data", None)
            if chosen is None:
                continue  # no such field here (the delete form), or one its own validation refused
            parent = trash.locked_parent(relationship, chosen.id)
            if parent is None or parent.is_deleted:
                noun = relationship.mapper.class_.__name__.lower()
                gone = f"is in the trash: restore the {noun} first" if parent is not None else "no longer exists"
                field.errors.append(f"{field.label.text} {chosen} {gone}, or choose another {noun}.")
                live = False
        return live

    # -- moving to the trash -------------------------------------------------------------------

    @expose("/delete/", methods=("POST",))
    def delete_view(self) -> Any:
        form = self.delete_form()
        if self.validate_form(form):
            self.move_to_trash(as_ids([form.id.data]))
        else:
            flash_errors(form, message="Could not move the record to the trash. %(error)s")
        return redirect(return_target() or url_for(".index_view"))

    @action("delete", "Move to trash", "Move the selected records to the trash?")
    def action_delete(self, ids: list[str]) -> None:
        self.move_to_trash(as_ids(ids))

    def move_to_trash(self, ids: list[int]) -> None:
        outcome = self.committed(lambda: trash.soft_delete(self.model, ids, current_user.id))
        if outcome is None:
            return
        if not outcome.affected:
            flash(f"Nothing was moved: the selected {self.noun}s are already in the trash.", "warning")
            return
        with_them = trash.describe(outcome.cascaded.items())
        flash(
            Markup('Moved {}{} to the trash. <a href="{}" class="alert-link">Open the trash</a> to restore.').format(
                trash.plural(outcome.affected, self.model),
                f", with {with_them}," if with_them else "",
                url_for(".trash_view"),
            ),
            "success",
        )

    # -- a deleted row's URLs ------------------------------------------------------------------

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self) -> Any:
        return self._unless_trashed() or super().edit_view()

    @expose("/details/")
    def details_view(self) -> Any:
        return self._unless_trashed() or super().details_view()

    def _unless_trashed(self) -> Any:
        """A deleted row is not shown or edited until restored; say so instead of "not found"."""
        pk = parse_id(request.args.get("id", ""))
        if pk is None:
            return None
        trashed = db.session.scalar(select(self.model.id).where(self.model.id == pk, self.model.trashed()))
        if trashed is None:
            return None
        flash(f"This {self.noun} is in the trash. Restore it before viewing or editing it.", "warning")
        return redirect(url_for(".trash_view"))

    # -- the trash -----------------------------------------------------------------------------

    @property
    def noun(self) -> str:
        return self.model.__name__.lower()

    @expose("/trash/")
    def trash_view(self) -> Any:
        page = max(request.args.get("page", 0, type=int), 0)
        search = request.args.get("search", "").strip()
        rows = self.trashed_rows(page, search)
        return self.render(
            "admin/records/trash.html",
            rows=rows[:TRASH_PAGE_SIZE],
            has_next=len(rows) > TRASH_PAGE_SIZE,
            page=page,
            search=search,
            parents=[relationship.key for relationship in trash.parents(self.model)],
            # Built, not copied from the request path, which lacks the prefix the app is mounted at.
            return_url=url_for(".trash_view", page=page or None, search=search or None),
        )

    def trashed_rows(self, page: int, search: str) -> list[Any]:
        """One page of deleted rows, newest deletion first, with the deleting operator's email:
        one statement (the partial index on ``deleted_at`` serves it), no count."""
        query = (
            db.session.query(self.model, Operator.email)
            .outerjoin(Operator, Operator.id == self.model.deleted_by_id)
            .filter(self.model.trashed())
            .options(*(joinedload(rel.class_attribute) for rel in trash.parents(self.model)))
        )
        if search and compat.search_enabled(self):
            query, _joins = self.search_query(query, {}, search)
        query = query.order_by(self.model.deleted_at.desc(), self.model.id.desc())
        return query.offset(page * TRASH_PAGE_SIZE).limit(TRASH_PAGE_SIZE + 1).all()

    @expose("/trash/restore/", methods=("POST",))
    def restore_view(self) -> Any:
        ids = posted_ids()
        outcome = self.committed(lambda: trash.restore(self.model, ids)) if ids else None
        if not ids:
            flash("Select at least one record to restore.", "warning")
        elif outcome is not None:
            self._flash_restored(outcome)
        return redirect(return_target() or url_for(".trash_view"))

    def _flash_restored(self, outcome: trash.Outcome) -> None:
        with_them = trash.describe(outcome.cascaded.items())
        message = f"Restored {trash.plural(outcome.affected, self.model)}"
        message += f", with {with_them} deleted together with them." if with_them else "."
        flash(message, "success")
        if outcome.skipped:
            parents = " or ".join(relationship.key for relationship in trash.parents(self.model))
            flash(
                f"{trash.plural(outcome.skipped, self.model)} stayed in the trash because their {parents} "
                f"is deleted: restore the {parents} first.",
                "warning",
            )

    @expose("/trash/purge/", methods=("POST",))
    def purge_view(self) -> Any:
        ids = posted_ids()
        if not ids:
            flash("Select at least one record to delete permanently.", "warning")
            return redirect(url_for(".trash_view"))
        if request.form.get("confirm") != "yes":
            return self.render(
                "admin/records/purge_confirm.html",
                ids=ids,
                plan=trash.purge_plan(self.model, ids),
                sample=sample(self.model, ids, self.model.trashed()),
                plural=trash.plural,
                return_url=url_for(".trash_view"),
            )
        outcome = self.committed(lambda: trash.purge(self.model, ids))
        if outcome is not None:
            with_them = trash.describe(outcome.cascaded.items())
            flash(
                f"Permanently deleted {trash.plural(outcome.affected, self.model)}"
                + (f", with {with_them}." if with_them else "."),
                "success",
            )
        return redirect(url_for(".trash_view"))
