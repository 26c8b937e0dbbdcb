"""*Columns* on a model's list: which columns it shows this operator, and in which order.

The choice is the operator's (``Operator.list_columns``, by list), kept in the database so that
every browser they sign in from shows it. It is a preference, like the colour theme: not audited.
Flask-Admin draws the list from the ``list_columns`` it passes to the template, so the page gets
the chosen ones (``render``), in their order; sort links keep the positions of the full list
(``listing.columns``). The CSV export always writes every column (``compat.export_columns``): it
is a file to read or to import back, not a copy of what the screen shows.

The order is a number per column, typed or stepped with the arrow keys: nothing needs a mouse or
a script.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from flask_login import current_user
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from webapp.admin.listing.columns import (
    COLUMNS_ARGUMENT,
    column_positions,
    listed_columns,
    page_column_names,
    shown_columns,
    shown_names,
)
from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.extensions import db
from webapp.models import Operator, OperatorRole

NOTHING_CHANGED = "Nothing was changed."


class ColumnRefused(ValueError):
    """A column choice that cannot be saved; the message says why."""


@dataclass(frozen=True)
class ColumnRow:
    """One line of the chooser: a column, whether it is shown, its place."""

    name: str
    label: str
    shown: bool
    position: str


class ColumnChoiceMixin(ModelViewMixinBase):
    """The list shows the operator's chosen columns; ``/columns/`` lets them choose."""

    endpoint_roles: ClassVar[Mapping[str, OperatorRole]] = {"columns_view": OperatorRole.VIEWER}

    def render(self, template: str, **kwargs: Any) -> Any:
        if template == self.list_template and "list_columns" in kwargs:
            kwargs["list_columns"] = shown_columns(self, page_column_names(self))
            kwargs["column_positions"] = column_positions(self)
        return super().render(template, **kwargs)

    @expose("/columns/", methods=("GET", "POST"))
    def columns_view(self) -> Any:
        back = get_redirect_target() or self.get_url(".index_view")
        if request.method == "GET":
            return self._chooser(back, self._rows_for(shown_names(self, None, current_user.list_columns)))
        if request.form.get("reset"):
            remember_columns(current_user.id, self.endpoint, None)
            flash(f"{self.name} show every column again, in their usual order.", "success")
            return redirect(without_argument(back, COLUMNS_ARGUMENT))
        try:
            chosen = chosen_names(listed_columns(self), request.form)
        except ColumnRefused as refusal:
            flash(f"{refusal} {NOTHING_CHANGED}", "error")
            return self._chooser(back, self._posted_rows(request.form), status=400)
        remember_columns(current_user.id, self.endpoint, chosen)
        flash(
            f"{self.name} show {len(chosen)} column{'s' if len(chosen) != 1 else ''}, in the order chosen.", "success"
        )
        # The list would otherwise keep showing the columns its address names, not the choice.
        return redirect(without_argument(back, COLUMNS_ARGUMENT))

    def _rows_for(self, shown: list[str]) -> list[ColumnRow]:
        """Shown columns first in their order, then the hidden ones in the view's order."""
        labels = dict(listed_columns(self))
        hidden = [name for name in labels if name not in shown]
        return [
            ColumnRow(name, labels[name], name in shown, str(place))
            for place, name in enumerate([*shown, *hidden], start=1)
        ]

    def _posted_rows(self, form: MultiDict[str, str]) -> list[ColumnRow]:
        """The chooser as the refused form had it, for the operator to correct."""
        shown = set(form.getlist("shown"))
        return [
            ColumnRow(name, label, name in shown, form.get(f"position-{name}", ""))
            for name, label in listed_columns(self)
        ]

    def _chooser(self, back: str, rows: list[ColumnRow], status: int = 200) -> Any:
        return self.render("admin/records/columns.html", rows=rows, return_url=back), status


def chosen_names(columns: list[tuple[str, str]], form: MultiDict[str, str]) -> list[str]:
    """The shown columns' names in the order their positions give (ties in the view's order),
    or :class:`ColumnRefused` for a column the list does not have, a position that is not a
    number of the list, or no column shown at all."""
    labels = dict(columns)
    named = form.getlist("shown") + [key.removeprefix("position-") for key in form if key.startswith("position-")]
    unknown = [name for name in named if name not in labels]
    if unknown:
        raise ColumnRefused(f"The list has no column “{unknown[0][:60]}”.")
    places: dict[str, int] = {}
    for index, name in enumerate(labels):
        text = form.get(f"position-{name}", str(index + 1)).strip()
        if not text.isdigit() or not 1 <= int(text) <= len(labels):
            raise ColumnRefused(f"The position of {labels[name]} must be a whole number from 1 to {len(labels)}.")
        places[name] = int(text)
    shown = [name for name in labels if name in set(form.getlist("shown"))]
    if not shown:
        raise ColumnRefused("Show at least one column.")
    order = list(labels)
    return sorted(shown, key=lambda name: (places[name], order.index(name)))


def remember_columns(operator_id: int, endpoint: str, names: list[str] | None) -> None:
    """Keep ``names`` as the operator's columns of the list ``endpoint`` (None: the view's own).

    The operator's row is locked while the choices are merged: two tabs saving two lists' choices
    at once both keep theirs."""
    choices = db.session.scalar(select(Operator.list_columns).where(Operator.id == operator_id).with_for_update())
    merged = {key: value for key, value in (choices or {}).items() if key != endpoint}
    if names is not None:
        merged[endpoint] = names
    db.session.execute(update(Operator).where(Operator.id == operator_id).values(list_columns=merged))
    db.session.commit()


def without_argument(url: str, name: str) -> str:
    """``url`` without the query argument ``name``."""
    parts = urlsplit(url)
    kept = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != name]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))
