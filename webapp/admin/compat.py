"""The one door to Flask-Admin's internals: every private name of Flask-Admin we use, here only.

Flask-Admin's public API has no hook for some of what the admin does (checking a request before
any view method runs, adjusting the list's URL arguments, answering the CSV export, choosing a
relation field, building menu entries), and no accessor for some of what it knows (the searched,
sorted and exported columns, the filters it parsed, its registered views). Each such use is a
small function or hook here, named for what it gives; the rest of the admin calls those.

``tests/test_flask_admin_compat.py`` pins every name used here against the installed Flask-Admin
(the attribute exists, the method takes the arguments we pass), and greps the rest of ``webapp``
for any private Flask-Admin name; ``pyproject.toml`` accepts only the minor versions it passed on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask_admin.menu import MenuView
from flask_admin.model.base import ViewArgs

from webapp.admin.mixin_bases import AdminMixinBase, ConverterMixinBase, ModelViewMixinBase, ViewMixinBase

if TYPE_CHECKING:
    from flask_admin import Admin
    from flask_admin.base import BaseView
else:
    Admin = BaseView = object

# The package whose classes must come after ours in every view's method resolution order.
FLASK_ADMIN_PACKAGE = "flask_admin"
OUR_PACKAGE = "webapp"

# -- what Flask-Admin knows, read ------------------------------------------------------------


def registered_views(admin: Admin) -> list[Any]:
    """Every view added to ``admin``, in the order added (Flask-Admin offers no accessor)."""
    return list(admin._views)


def search_columns(view: Any) -> list[tuple[Any, Any]]:
    """The searched columns, each with the relationship path that reaches it (empty for the
    model's own)."""
    return list(view._search_fields or ())


def search_enabled(view: Any) -> bool:
    return bool(view._search_supported)


def join_path(view: Any, query: Any, joins: dict[Any, Any], path: Any) -> tuple[Any, dict[Any, Any], Any]:
    """``query`` outer-joined along ``path`` once (``joins`` remembers what is joined already),
    with the alias the path's last table got, or None."""
    query, joins, alias = view._apply_path_joins(query, joins, path, inner_join=False)
    return query, joins, alias


def sortable_column_names(view: Any) -> set[str]:
    return set(view._sortable_columns)


def column_choices(view: Any, name: str) -> Mapping[Any, Any]:
    """The labels of a column's ``column_choices``, by stored value (empty without choices)."""
    return view._column_choices_map.get(name) or {}


def export_columns(view: Any) -> list[tuple[str, str]]:
    """The exported columns as ``(name, label)``: ``column_export_list`` or else the list's."""
    return list(view._export_columns)


def list_arguments(view: Any) -> ViewArgs:
    """The list's page, sort, search and filters as the request gives them (through every
    :class:`ModelViewHooks.adjusted_list_arguments`)."""
    return view._get_list_extra_args()


def list_filters(view: Any) -> list[Any]:
    """The list's filters, in the order whose positions the parsed filters' indexes refer to."""
    return list(view._filters or ())


def list_url(
    view: Any,
    *,
    page_size: int | None,
    sort: int | None,
    descending: bool,
    search: str | None,
    filters: list[tuple[int, str, str]],
    extra: dict[str, str],
) -> str:
    """The list's address for this state, with the parameter names Flask-Admin parses today
    (``flt0_status_is``: a filter's position and label make its name)."""
    arguments = ViewArgs(
        page_size=page_size, sort=sort, sort_desc=descending, search=search, filters=filters, extra_args=extra
    )
    return str(view._get_list_url(arguments))


def sort_column(view: Any, index: int | None) -> Any:
    """The sort column for the list's ``?sort=`` index, or None (the default order)."""
    found = view._get_column_by_idx(index)
    return found[0] if found else None


def apply_filters(view: Any, query: Any, joins: dict[Any, Any], filters: Any) -> tuple[Any, dict[Any, Any]]:
    """``query`` narrowed by the filters parsed from the URL (``(index, name, value)`` triples)."""
    if not filters or not view._filters:
        return query, joins
    query, _count, joins, _count_joins = view._apply_filters(query, None, joins, {}, filters)
    return query, joins


def apply_sorting(
    view: Any, query: Any, joins: dict[Any, Any], column: Any, descending: bool
) -> tuple[Any, dict[Any, Any]]:
    """``query`` in the order the list shows: ``column`` when the operator sorted by one, else
    ``column_default_sort``."""
    query, joins = view._apply_sorting(query, joins, column, descending)
    return query, joins


def apply_pagination(view: Any, query: Any, page: int | None, page_size: int | None) -> Any:
    return view._apply_pagination(query, page, page_size)


def ajax_loader(view: Any, name: str) -> Any:
    """The search-as-you-type loader of a form field (``form_ajax_refs``), or None."""
    return (getattr(view, "_form_ajax_refs", None) or {}).get(name)


def loader_fields(loader: Any) -> list[Any]:
    """The columns an ajax loader searches (its ``fields``, resolved to columns)."""
    return list(loader._cached_fields)


def posted_values(field: Any) -> list[Any]:
    """What the browser posted for an ajax select field, before Flask-Admin resolves the ids."""
    return list(field._formdata or ())


def check_mixin_order(cls: type) -> None:
    """Fail at class creation when ``cls``'s method resolution order would silently drop an
    override: a class of ours after one of Flask-Admin's, or one of this module's hooks before
    another class of ours (whose override of the hook's public method it would hide)."""
    mro = cls.__mro__
    ours = [index for index, base in enumerate(mro) if _package(base) == OUR_PACKAGE]
    flask_admin = [index for index, base in enumerate(mro) if _package(base) == FLASK_ADMIN_PACKAGE]
    hooks = [index for index in ours if mro[index].__module__ == __name__]
    late = [mro[index].__name__ for index in ours if flask_admin and index > flask_admin[0]]
    if late:
        raise TypeError(
            f"{cls.__name__}: {', '.join(late)} must come before Flask-Admin's classes among the bases "
            "(list mixins first, then the Flask-Admin based view), or Flask-Admin overrides them"
        )
    hidden = [mro[index].__name__ for index in ours if hooks and index > hooks[0] and index not in hooks]
    if hidden:
        raise TypeError(
            f"{cls.__name__}: {', '.join(hidden)} must come before {mro[hooks[0]].__name__} among the bases, "
            "or the hook's default hides their overrides"
        )


def _package(cls: type) -> str:
    return cls.__module__.split(".", 1)[0]


# -- where Flask-Admin calls us without a public hook ------------------------------------------


class ViewHooks(ViewMixinBase):
    """Turns Flask-Admin's per-request check into :meth:`refuse_request`, and makes sure our
    mixins come before Flask-Admin's classes in every view built on it (a mixin placed after
    them would be silently overridden)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_mixin_order(cls)

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        return self.refuse_request(name)

    def refuse_request(self, endpoint: str) -> Any:
        """A response refusing the request to ``endpoint`` (a view method's name), or None to
        serve it. Flask-Admin's own check, unless a mixin overrides it."""
        return super()._handle_view(endpoint)


class ModelViewHooks(ViewHooks, ModelViewMixinBase):
    """Flask-Admin's list-argument parsing and CSV export, as hooks with public names."""

    def _get_list_extra_args(self) -> ViewArgs:
        return self.adjusted_list_arguments(super()._get_list_extra_args())

    def adjusted_list_arguments(self, arguments: ViewArgs) -> ViewArgs:
        """The list's arguments as parsed from the URL, for a mixin to correct."""
        return arguments

    def _export_csv(self, return_url: str) -> Any:
        return self.export_csv_response(return_url)

    def export_csv_response(self, return_url: str) -> Any:
        """The response to ``/export/csv/``: Flask-Admin's own unless a mixin overrides it."""
        return super()._export_csv(return_url)


class ModelConverterHooks(ConverterMixinBase):
    """Flask-Admin's choice of a relation field, as :meth:`relation_field`."""

    def _model_select_field(self, prop: Any, multiple: bool, remote_model: Any, **kwargs: Any) -> Any:
        return self.relation_field(prop, multiple, remote_model, kwargs)

    def relation_field(self, prop: Any, multiple: bool, remote_model: Any, field_args: dict[str, Any]) -> Any:
        return super()._model_select_field(prop, multiple, remote_model, **field_args)


class UncachedMenuAdmin(AdminMixinBase):
    """An ``Admin`` whose menu entries build their URL on every page instead of caching the first.

    Flask-Admin caches each entry's URL, path prefix included, the first time it draws it: a
    worker's first visitor without the prefix (a probe, someone on gunicorn's own port) would
    leave every later page behind the proxy with menu links that miss it. Built per page instead
    (a dozen ``url_for`` calls)."""

    def _add_view_to_menu(self, view: BaseView) -> None:
        self.add_menu_item(MenuView(view.name, view, cache=False), view.category)
