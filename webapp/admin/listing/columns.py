"""Which of a list's columns a page shows, and in which order.

A view's ``column_list`` says every column its list may show; an operator may show fewer, in an
order of their own. The choice comes from the page's ``?columns=`` argument (a saved view opened,
a link shared), else from what the operator chose for that list (``Operator.list_columns``), else
it is every column in the view's order. Sort links keep pointing at a column's position in the
full list, which is what Flask-Admin's ``?sort=`` means, so hiding or moving a column never
changes what a sort link sorts by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import request
from flask_login import current_user

# The page argument naming the shown columns, in order, comma-separated.
COLUMNS_ARGUMENT = "columns"


def listed_columns(view: Any) -> list[tuple[str, str]]:
    """Every column the list may show, as ``(name, label)``, in the view's order."""
    return [(str(name), str(label)) for name, label in view.get_list_columns()]


def unknown_columns(view: Any, names: Iterable[str]) -> list[str]:
    """The names among ``names`` that are not columns of the list."""
    known = {name for name, _label in listed_columns(view)}
    return [name for name in names if name not in known]


def split_names(text: str) -> list[str]:
    """``"title,status"`` as its column names, blanks dropped."""
    return [name.strip() for name in text.split(",") if name.strip()]


def shown_names(view: Any, argument: str | None, remembered: Mapping[str, Any]) -> list[str]:
    """The names of the columns the page shows: the argument's, the operator's choice for this
    list, or all of them; names that are no longer columns are left out (a column removed from
    the view since the choice was made), and a choice left empty by that shows every column."""
    known = [name for name, _label in listed_columns(view)]
    for chosen in (split_names(argument or ""), remembered.get(view.endpoint) or []):
        kept = [name for name in chosen if isinstance(name, str) and name in known]
        if kept:
            return list(dict.fromkeys(kept))
    return known


def page_column_names(view: Any) -> list[str]:
    """The names of the columns this request's page of ``view``'s list shows."""
    remembered = current_user.list_columns if current_user.is_authenticated else {}
    return shown_names(view, request.args.get(COLUMNS_ARGUMENT), remembered)


def shown_columns(view: Any, names: Iterable[str]) -> list[tuple[str, str]]:
    """``(name, label)`` of ``names``, in their order."""
    labels = dict(listed_columns(view))
    return [(name, labels[name]) for name in names if name in labels]


def column_positions(view: Any) -> dict[str, int]:
    """Each column's position in the full list: what ``?sort=`` counts."""
    return {name: index for index, (name, _label) in enumerate(listed_columns(view))}
