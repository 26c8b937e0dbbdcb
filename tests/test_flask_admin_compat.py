"""``webapp/admin/compat.py`` is the one door to Flask-Admin's private names, and each name it
uses still exists, with the arguments it is called with, in the installed Flask-Admin.

An upgrade of Flask-Admin that renames or reshapes one of them fails here, by name, rather than as
a silently skipped override (a role check that no longer runs) somewhere in the suite.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_admin import Admin
from flask_admin.base import BaseView
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.model import BaseModelView
from werkzeug.datastructures import MultiDict

from webapp.admin import compat
from webapp.admin.base import AdminModelView
from webapp.admin.features.soft_delete import SoftDeleteViewMixin
from webapp.models import Task

WEBAPP = Path(__file__).resolve().parents[1] / "webapp"
COMPAT = WEBAPP / "admin" / "compat.py"
# Packages whose own underscored names are theirs, not Flask-Admin's (WTForms' ``Field._value``,
# which its documentation tells widget authors to call, is one).
OTHER_PACKAGES = ("wtforms", "werkzeug", "flask", "jinja2", "sqlalchemy", "markupsafe", "flask_wtf", "flask_login")
PRIVATE = re.compile(r"(?:\.|\bdef\s+)(_[a-z][a-z0-9_]*)\b")
NAME_ARGUMENTS = {"getattr", "hasattr", "setattr", "delattr"}


def underscored_names(package: str) -> set[str]:
    """Every ``_name`` a package's source defines or reaches through an attribute."""
    root = Path(importlib.import_module(package).__path__[0])
    names: set[str] = set()
    for path in root.rglob("*.py"):
        if "tests" not in path.parts:
            names |= set(PRIVATE.findall(path.read_text(errors="ignore")))
    return names


FLASK_ADMIN_PRIVATE = underscored_names("flask_admin") - set().union(*map(underscored_names, OTHER_PACKAGES))


def names_used(path: Path) -> set[str]:
    """The names a module reaches by attribute, defines as a function or passes to ``getattr``."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            used.add(node.name)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in NAME_ARGUMENTS and len(node.args) > 1:
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                used.add(name.value)
    return used


MODULES = sorted(path for path in WEBAPP.rglob("*.py") if path != COMPAT)


@pytest.mark.parametrize("path", MODULES, ids=[str(path.relative_to(WEBAPP.parent)) for path in MODULES])
def test_no_module_but_compat_names_a_private_flask_admin_name(path: Path) -> None:
    private = sorted(names_used(path) & FLASK_ADMIN_PRIVATE)
    assert not private, f"{path.name} uses Flask-Admin's {private}: go through webapp/admin/compat.py"


def task_view(app: Flask) -> Any:
    return next(view for view in compat.registered_views(app.extensions["admin"][0]) if view.endpoint == "task")


def takes(method: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    inspect.signature(method).bind(*args, **kwargs)
    return True


# Each private name compat uses, and what must hold of it in the installed Flask-Admin.
PINS: dict[str, Callable[[Flask], bool]] = {
    "_views": lambda app: isinstance(app.extensions["admin"][0]._views, list),
    "_search_fields": lambda app: all(len(entry) == 2 for entry in task_view(app)._search_fields),
    "_search_supported": lambda app: task_view(app)._search_supported is True,
    "_apply_path_joins": lambda app: takes(ModelView._apply_path_joins, None, None, {}, [], inner_join=False),
    "_sortable_columns": lambda app: "title" in task_view(app)._sortable_columns,
    "_column_choices_map": lambda app: isinstance(task_view(app)._column_choices_map, dict),
    "_export_columns": lambda app: ("title", "Title") in task_view(app)._export_columns,
    "_get_list_extra_args": lambda app: takes(BaseModelView._get_list_extra_args, None),
    "_get_column_by_idx": lambda app: takes(BaseModelView._get_column_by_idx, None, 0),
    "_filters": lambda app: len(task_view(app)._filters) > 0,
    "_get_list_url": lambda app: takes(BaseModelView._get_list_url, None, None),
    "_apply_filters": lambda app: takes(ModelView._apply_filters, None, None, None, {}, {}, []),
    "_apply_sorting": lambda app: takes(ModelView._apply_sorting, None, None, {}, None, False),
    "_apply_pagination": lambda app: takes(ModelView._apply_pagination, None, None, 0, 50),
    "_form_ajax_refs": lambda app: "tags" in task_view(app)._form_ajax_refs,
    "_cached_fields": lambda app: len(task_view(app)._form_ajax_refs["tags"]._cached_fields) == 1,
    "_formdata": lambda app: sorted(posted_tags(app)) == ["7", "9"],
    "_handle_view": lambda app: takes(BaseView._handle_view, None, "index_view", id=1),
    "_export_csv": lambda app: takes(BaseModelView._export_csv, None, "/admin/task/"),
    "_model_select_field": lambda app: takes(AdminModelConverter._model_select_field, None, None, True, Task, x=1),
    "_add_view_to_menu": lambda app: takes(Admin._add_view_to_menu, None, None),
}


def posted_tags(app: Flask) -> list[Any]:
    view = task_view(app)
    with app.test_request_context("/admin/task/new/", method="POST", data=MultiDict([("tags", "7"), ("tags", "9")])):
        return compat.posted_values(view.create_form().tags)


def test_the_pins_cover_every_private_name_compat_uses() -> None:
    assert names_used(COMPAT) & FLASK_ADMIN_PRIVATE == set(PINS)


@pytest.mark.parametrize("name", sorted(PINS))
def test_each_private_name_holds_in_the_installed_flask_admin(app: Flask, name: str) -> None:
    with app.app_context():
        assert PINS[name](app), name


def test_each_hook_still_overrides_a_flask_admin_method() -> None:
    """A hook whose Flask-Admin method was renamed would never be called."""
    for hook, flask_admin_class in (
        (compat.ViewHooks, BaseView),
        (compat.ModelViewHooks, BaseModelView),
        (compat.ModelConverterHooks, AdminModelConverter),
        (compat.UncachedMenuAdmin, Admin),
    ):
        overridden = {name for name in vars(hook) if name.startswith("_") and not name.startswith("__")}
        assert overridden and all(callable(getattr(flask_admin_class, name, None)) for name in overridden), hook


def test_a_mixin_placed_after_flask_admins_classes_fails_when_the_view_is_made() -> None:
    with pytest.raises(TypeError, match="SoftDeleteViewMixin must come before Flask-Admin's classes"):

        class Misordered(AdminModelView, SoftDeleteViewMixin):  # type: ignore[misc]
            pass


def test_a_mixin_placed_after_a_compat_hook_fails_when_the_view_is_made() -> None:
    class Late:
        pass

    Late.__module__ = "webapp.admin.features.late"

    with pytest.raises(TypeError, match="Late must come before ModelViewHooks"):

        class Hidden(compat.ModelViewHooks, Late, ModelView):  # type: ignore[misc]
            pass


def test_every_view_of_the_site_is_in_a_working_order(app: Flask) -> None:
    views = compat.registered_views(app.extensions["admin"][0])
    assert len(views) > 5
    for view in views:
        compat.check_mixin_order(type(view))
