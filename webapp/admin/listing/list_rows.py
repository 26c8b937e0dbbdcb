"""The rows of a list page, drawn in Python.

Rows are most of what a list page costs. Through Jinja a row (checkbox, action icons, seven cells)
took about 100 µs: every ``{{ }}`` goes through the template runtime's call and escaping machinery,
every cell through Flask-Admin's formatter lookups. Here what every row shares (URL patterns,
labels, one value function per column) is prepared once per page, and a row is a few f-strings.
The markup is the same the Flask-Admin template draws, with one shared delete form
(``templates/admin/records/list.html``) instead of one per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from webapp.admin.listing.cells import TypeFormatters, cell_value
from webapp.admin.listing.row_urls import row_url

# Flask-Admin's own row actions, recognised by their macro, drawn here; any other row action
# (e.g. the operators' "Reset password") renders itself through its template macro.
VIEW_ROW, EDIT_ROW, DELETE_ROW = "row_actions.view_row", "row_actions.edit_row", "row_actions.delete_row"


class ListRows:
    """Called by the list template once per row: ``{{ list_row(row) }}`` inside ``<tr>``."""

    def __init__(
        self,
        view: Any,
        list_columns: Sequence[tuple[str, str]],
        with_checkbox: bool,
        row_actions: Sequence[Any],
        return_url: str,
        delete_question: str,
    ) -> None:
        if view.column_editable_list:
            raise TypeError(f"{type(view).__name__}: inline-editable list cells are not drawn by ListRows")
        self._view = view
        self._with_checkbox = with_checkbox
        # Flask-Admin's header leaves the actions column out when the view hides it.
        self._row_actions = row_actions if view.column_display_actions else None
        self._return_url = return_url
        self._delete_question = escape(delete_question)
        type_formatters = TypeFormatters(view, view.column_type_formatters)
        self._cells = [
            (f'<td class="col-{escape(name)}">', cell_value(view, name, view.column_formatters, type_formatters))
            for name, _ in list_columns
        ]

    @pass_context
    def __call__(self, context: Context, row: Any) -> Markup:
        pk = self._view.get_pk_value(row)
        parts = []
        if self._with_checkbox:
            parts.append(
                f'<td><input type="checkbox" name="rowid" class="action-checkbox" value="{escape(pk)}" '
                'title="Select record"></td>'
            )
        if self._row_actions is not None:
            # Spaced apart, as the template's line breaks spaced the icons.
            icons = " ".join(self._action(context, action, pk, row) for action in self._row_actions)
            parts.append(f'<td class="list-buttons-column">{icons}</td>')
        parts.extend(f"{opening}{escape(value(row))}</td>" for opening, value in self._cells)
        return Markup("".join(parts))

    def _action(self, context: Context, action: Any, pk: Any, row: Any) -> str:
        macro = getattr(action, "template_name", None)
        if macro == VIEW_ROW:
            href = escape(row_url(".details_view", pk, url=self._return_url))
            return f'<a class="icon" href="{href}" title="View record"><span class="fa fa-eye"></span></a>'
        if macro == EDIT_ROW:
            href = escape(row_url(".edit_view", pk, url=self._return_url))
            return f'<a class="icon" href="{href}" title="Edit record"><span class="fa fa-pencil"></span></a>'
        if macro == DELETE_ROW:
            # Submits the page's one delete form (``form`` attribute) with this row's id.
            return (
                f'<button type="submit" form="row-delete-form" name="id" value="{escape(pk)}" '
                f'class="icon row-delete" title="Delete record" data-confirm="{self._delete_question}">'
                '<span class="fa fa-trash"></span></button>'
            )
        # Escaped as ``{{ }}`` would: macros give Markup, a plain string is text.
        return str(escape(action.render_ctx(context, pk, row)))
