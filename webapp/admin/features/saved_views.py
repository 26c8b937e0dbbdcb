"""*Saved views* on a model's list: an operator names the list's state (filters, search, sort,
page size, columns) and opens it again from the menu; private, or shared with every operator.

The state is stored by meaning (``listing.list_state``) and the list's address rebuilt from it
when the view is opened, so a view survives the list's filters being renumbered or renamed in
their URL parameters; what the list no longer has is left out, and the page says so. Saving and
removing are audited (``webapp.audit``) like any other change. A view is removed by its owner,
or, when shared, by an admin.

The menu lists the operator's own views and the shared ones with one statement per page
(:func:`menu_entries`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from webapp import audit
from webapp.admin import compat
from webapp.admin.listing.columns import COLUMNS_ARGUMENT, page_column_names, split_names, unknown_columns
from webapp.admin.listing.list_state import ListState, current_state, opened_state
from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.extensions import db
from webapp.models import AuditAction, Operator, OperatorRole, SavedView
from webapp.models.saved_views import NAME_MAX_LENGTH

# The menu shows at most this many views (the operator's and the shared ones, by list and name).
MENU_LIMIT = 60
NOTHING_SAVED = "Nothing was saved."
NOT_FOUND = (
    "There is no saved view {id} of this list that you can open: "
    "it was removed, or it is another operator's private view."
)


class SavedViewRefused(ValueError):
    """A view that cannot be saved or removed; the message says why, ``status`` the answer's code."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ListedView:
    """A saved view as the list's page of views and the menu show it."""

    id: int
    name: str
    shared: bool
    owner_email: str
    mine: bool


class SavedViewsMixin(ModelViewMixinBase):
    """``/saved-views/``: save the list's state under a name, and this list's views to open or
    remove; ``/saved-views/<id>/`` opens one, ``…/remove/`` removes one."""

    endpoint_roles: ClassVar[Mapping[str, OperatorRole]] = {
        name: OperatorRole.VIEWER for name in ("saved_views_view", "saved_view_open", "saved_view_remove")
    }

    @expose("/saved-views/", methods=("GET", "POST"))
    def saved_views_view(self) -> Any:
        if request.method == "GET":
            return self._views_page()
        try:
            state = self._page_state()
            saved = self._save(state, request.form.get("name", ""), bool(request.form.get("shared")))
        except SavedViewRefused as refusal:
            db.session.rollback()
            flash(f"{refusal} {NOTHING_SAVED}", "error")
            return self._views_page(status=refusal.status)
        flash(f"Saved the view “{saved.name}”: it is in the menu, under Saved views.", "success")
        return redirect(opened_state(self, state).url)

    @expose("/saved-views/<int:view_id>/", methods=("GET",))
    def saved_view_open(self, view_id: int) -> Any:
        saved = self._visible(view_id)
        if saved is None:
            flash(NOT_FOUND.format(id=view_id), "error")
            return self._views_page(status=404)
        opened = opened_state(self, ListState.from_document(saved.state))
        if opened.left_out:
            flash(f"“{saved.name}” opened without {'; '.join(opened.left_out)}.", "warning")
        return redirect(opened.url)

    @expose("/saved-views/<int:view_id>/remove/", methods=("POST",))
    def saved_view_remove(self, view_id: int) -> Any:
        saved = self._visible(view_id)
        if saved is None:
            flash(f"{NOT_FOUND.format(id=view_id)} Nothing was removed.", "error")
            return self._views_page(status=404)
        if saved.operator_id != current_user.id and not current_user.has_role(OperatorRole.ADMIN):
            flash(
                f"Only its owner or an admin may remove the shared view “{saved.name}”. Nothing was removed.", "error"
            )
            return self._views_page(status=403)
        name = saved.name
        # All or nothing, and a database error (another tab removing it first) says why.
        if self.committed(lambda: self._remove(saved)):
            flash(f"Removed the saved view “{name}”.", "success")
        return redirect(self.get_url(".saved_views_view"))

    def _remove(self, saved: SavedView) -> bool:
        audit.record(AuditAction.DELETE, saved, f"Removed saved view “{saved.name}” of {self.name}")
        db.session.delete(saved)
        db.session.flush()
        return True

    # -- the steps -----------------------------------------------------------------------------

    def _page_state(self) -> ListState:
        """The state of the list the page was opened from (its query string); a column the list
        does not have is refused, not dropped: the operator would save something else than meant."""
        unknown = unknown_columns(self, split_names(request.args.get(COLUMNS_ARGUMENT, "")))
        if unknown:
            raise SavedViewRefused(f"The list has no column “{unknown[0][:60]}”.")
        return current_state(self, page_column_names(self))

    def _save(self, state: ListState, typed_name: str, shared: bool) -> SavedView:
        name = " ".join(typed_name.split())
        if not name:
            raise SavedViewRefused("Give the view a name.")
        if len(name) > NAME_MAX_LENGTH:
            raise SavedViewRefused(f"A view's name has at most {NAME_MAX_LENGTH} characters; this one has {len(name)}.")
        taken = f"You already have a view named “{name}” on this list: choose another name, or remove that one first."
        if self._own_named(name) is not None:
            raise SavedViewRefused(taken, status=409)
        saved = SavedView(
            operator_id=current_user.id,
            list_endpoint=self.endpoint,
            name=name,
            shared=shared,
            state=state.as_document(),
        )
        try:
            db.session.add(saved)
            db.session.flush()
            audit.record(
                AuditAction.CREATE,
                saved,
                f"Saved view “{name}” of {self.name}{' (shared)' if shared else ''}",
                audit.creation_values(saved),
            )
            db.session.commit()
        except IntegrityError as error:  # the same name saved by another tab meanwhile
            raise SavedViewRefused(taken, status=409) from error
        return saved

    def _own_named(self, name: str) -> SavedView | None:
        return db.session.scalar(
            select(SavedView).where(
                SavedView.operator_id == current_user.id,
                SavedView.list_endpoint == self.endpoint,
                func.lower(SavedView.name) == name.lower(),
            )
        )

    def _visible(self, view_id: int) -> SavedView | None:
        """This list's view ``view_id`` if it is the operator's own or shared, else None (another
        operator's private view is not told apart from one that does not exist)."""
        return db.session.scalar(
            select(SavedView).where(
                SavedView.id == view_id,
                SavedView.list_endpoint == self.endpoint,
                or_(SavedView.operator_id == current_user.id, SavedView.shared),
            )
        )

    def _views_page(self, status: int = 200) -> Any:
        """The save form over the page's list state, and this list's views."""
        try:
            state_parts, unsavable = self._page_state().describe(self), None
        except SavedViewRefused as refusal:
            state_parts, unsavable = [], str(refusal)
        return (
            self.render(
                "admin/records/saved_views.html",
                state_parts=state_parts,
                unsavable=unsavable,
                views=visible_views(self.endpoint),
                name_max_length=NAME_MAX_LENGTH,
                list_url=self.get_url(".index_view", **request.args.to_dict()),
            ),
            status,
        )

    def may_remove(self, view: ListedView) -> bool:
        """Whether the page offers to remove ``view``: the owner's, or a shared one for an admin."""
        return view.mine or (view.shared and current_user.has_role(OperatorRole.ADMIN))


def visible_views(endpoint: str | None = None, limit: int | None = None) -> list[tuple[str, ListedView]]:
    """The signed-in operator's views and the shared ones, as ``(list endpoint, view)`` by list
    and name: one statement."""
    me = current_user.id
    query = (
        select(
            SavedView.list_endpoint,
            SavedView.id,
            SavedView.name,
            SavedView.shared,
            SavedView.operator_id,
            Operator.email,
        )
        .join(Operator, Operator.id == SavedView.operator_id)
        .where(or_(SavedView.operator_id == me, SavedView.shared))
        .order_by(SavedView.list_endpoint, func.lower(SavedView.name), SavedView.id)
        .limit(limit)
    )
    if endpoint is not None:
        query = query.where(SavedView.list_endpoint == endpoint)
    return [
        (list_endpoint, ListedView(view_id, name, shared, email, owner == me))
        for list_endpoint, view_id, name, shared, owner, email in db.session.execute(query)
    ]


@dataclass(frozen=True)
class MenuGroup:
    """One list's saved views in the menu: the list's name, and each view's label and address."""

    list_name: str
    entries: list[tuple[str, str]]


def menu_entries(admin: Any) -> list[MenuGroup]:
    """The menu's saved views, grouped by list, for the lists the operator may open."""
    if not current_user.is_authenticated:
        return []
    lists = {
        view.endpoint: view
        for view in compat.registered_views(admin)
        if isinstance(view, SavedViewsMixin) and view.is_accessible()
    }
    try:
        found = visible_views(limit=MENU_LIMIT)
    except SQLAlchemyError:  # a page drawn after a database error still draws, without them
        return []
    groups: dict[str, MenuGroup] = {}
    for endpoint, view in found:
        if endpoint in lists:
            label = view.name if view.mine else f"{view.name} (shared by {view.owner_email})"
            group = groups.setdefault(endpoint, MenuGroup(lists[endpoint].name, []))
            group.entries.append((label, url_for(f"{endpoint}.saved_view_open", view_id=view.id)))
    return list(groups.values())
