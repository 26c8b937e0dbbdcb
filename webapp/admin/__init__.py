"""The admin site: one Flask-Admin instance per app, its menu, and its views.

Rooms, by what each knows, importing downward only (views → base → features → listing → inputs →
compat → mixin_bases):

- ``views/``: every concrete page (one module per model or page, the dashboard and ``/metrics``);
- ``base.py``: the classes the views build on (``ProtectedView``, ``AdminHomeView``,
  ``AdminModelView``), each a list of one-job mixins. It lives here, above the rooms, because it
  assembles them: it is the one module that knows ``features``, ``listing`` and ``inputs`` together;
- ``features/``: behaviour mixins a view opts into (access, soft delete, tags, audit, versions,
  refusals);
- ``listing/``: the list-page engine (the list query for a page or an export, counts, keyset
  paging, row links, formatting, CSV export);
- ``inputs/``: fields, filters, pickers, dates, ids, selections, search;
- ``compat.py``: the only module that touches Flask-Admin's private names;
- ``mixin_bases.py``: the Flask-Admin classes the mixins of every room name as their bases for
  mypy; it imports nothing of ours, so it sits below all of them.

See docs/architecture.md for the path of a request through them.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for
from flask_admin import Admin
from flask_admin.menu import MenuLink
from flask_admin.theme import Bootstrap4Theme
from werkzeug.wrappers import Response

from webapp.admin.compat import UncachedMenuAdmin
from webapp.admin.features.refusals import shown_messages
from webapp.admin.features.saved_views import menu_entries
from webapp.admin.listing.row_urls import static_url
from webapp.admin.views import (
    AuditLogView,
    DashboardView,
    HomeView,
    OperatorView,
    PostView,
    TagView,
    TaskView,
    UserView,
)
from webapp.extensions import db
from webapp.models import AuditEntry, Operator, Post, Tag, Task, User

RECORDS = "Records"
TRASH = "Trash"
ACCESS = "Access"


class PrefixSafeAdmin(UncachedMenuAdmin, Admin):
    """Menu links that keep the path prefix the app is mounted at (see ``UncachedMenuAdmin``)."""


def to_admin_home() -> Response:
    """The site's root (``/``, or ``/ops/`` behind a proxy's prefix) is the admin's home, not a 404."""
    return redirect(url_for("admin.index"))


def init_admin(app: Flask) -> Admin:
    app.add_template_global(shown_messages, "shown_messages")
    app.add_template_global(menu_entries, "saved_views_menu")
    app.add_template_global(static_url, "static_url")
    app.add_url_rule("/", "root", to_admin_home)
    admin = PrefixSafeAdmin(
        app,
        name="Operations admin",
        theme=Bootstrap4Theme(fluid=True, base_template="admin/site_base.html"),
        index_view=HomeView(name="Home", url="/admin"),
    )
    admin.add_view(DashboardView(name="Dashboard", endpoint="dashboard", url="/admin/dashboard"))
    admin.add_view(UserView(User, db, name="Users", category=RECORDS, endpoint="user"))
    admin.add_view(TaskView(Task, db, name="Tasks", category=RECORDS, endpoint="task"))
    admin.add_view(PostView(Post, db, name="Posts", category=RECORDS, endpoint="post"))
    admin.add_view(TagView(Tag, db, name="Tags", category=RECORDS, endpoint="tag"))
    for name, endpoint in (
        ("Deleted users", "user"),
        ("Deleted tasks", "task"),
        ("Deleted posts", "post"),
        ("Deleted tags", "tag"),
    ):
        admin.add_link(MenuLink(name, endpoint=f"{endpoint}.trash_view", category=TRASH))
    admin.add_view(AuditLogView(AuditEntry, db, name="Audit log", category=ACCESS, endpoint="audit"))
    admin.add_view(OperatorView(Operator, db, name="Operators", category=ACCESS, endpoint="operator"))
    return admin
