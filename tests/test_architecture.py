"""The rooms of docs/architecture.md import downward only: a module that imports a room above
its own is a cycle in waiting, and the reason a deferred import was once needed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WEBAPP = Path(__file__).resolve().parents[1] / "webapp"

ROOMS = (
    "webapp.admin.inputs",
    "webapp.admin.listing",
    "webapp.admin.features",
    "webapp.admin.views",
    "webapp.admin.base",
)
# For each room, the rooms of webapp.admin it must never import.
FORBIDDEN = {
    "webapp.admin.inputs": ("webapp.admin.listing", "webapp.admin.features", "webapp.admin.views", "webapp.admin.base"),
    "webapp.admin.listing": ("webapp.admin.features", "webapp.admin.views", "webapp.admin.base"),
    "webapp.admin.features": ("webapp.admin.views", "webapp.admin.base"),
    "webapp.admin.base": ("webapp.admin.views",),
    # The door to Flask-Admin's internals and the mypy bases sit below every room.
    "webapp.admin.compat": ROOMS,
    "webapp.admin.mixin_bases": ("webapp",),
    "webapp.monitoring": ("webapp.admin",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(WEBAPP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    return imported


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


MODULES = sorted(WEBAPP.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(path) for path in MODULES])
def test_each_module_imports_only_rooms_below_its_own(path: Path) -> None:
    name = module_name(path)
    for room, above in FORBIDDEN.items():
        if within(name, room):
            wrong = sorted(i for i in imported_modules(path) if any(within(i, a) for a in above))
            assert not wrong, f"{name} is in {room} and must not import {wrong}"


@pytest.mark.parametrize("path", MODULES, ids=[module_name(path) for path in MODULES])
def test_only_the_factory_reaches_into_the_admin_from_outside(path: Path) -> None:
    name = module_name(path)
    if within(name, "webapp.admin") or name == "webapp":
        return
    wrong = sorted(i for i in imported_modules(path) if within(i, "webapp.admin"))
    assert not wrong, f"{name} must not import the admin ({wrong}): the admin builds on it, not the other way"


def deferred_imports(path: Path) -> list[str]:
    """Imports inside a function body: a cycle dodged, or a dependency hidden from the reader."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.extend(
                f"line {inner.lineno}: {ast.unparse(inner)}"
                for inner in ast.walk(node)
                if isinstance(inner, ast.Import | ast.ImportFrom)
            )
    return found


@pytest.mark.parametrize("path", MODULES, ids=[module_name(path) for path in MODULES])
def test_no_module_defers_an_import(path: Path) -> None:
    assert not deferred_imports(path), f"{module_name(path)} imports inside a function: {deferred_imports(path)}"
