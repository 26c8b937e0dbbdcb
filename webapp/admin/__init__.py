"""The admin site: one Flask-Admin instance per app, its menu, and its views."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from webapp.admin.base import AdminHomeView
from webapp.admin.views import PostView, TagView, TaskView, UserView
from webapp.extensions import db
from webapp.models import Post, Tag, Task, User

RECORDS = "Records"


def init_admin(app: Flask) -> Admin:
    # Imported here: the dashboard builds on webapp.admin.base, so a module-level import would be a cycle.
    from webapp.monitoring.dashboard import DashboardView

    admin = Admin(
        app,
        name="Operations admin",
        theme=Bootstrap4Theme(fluid=True, base_template="admin/base.html"),
        index_view=AdminHomeView(name="Home", url="/admin"),
    )
    admin.add_view(DashboardView(name="Dashboard", endpoint="dashboard", url="/admin/dashboard"))
    admin.add_view(UserView(User, db, name="Users", category=RECORDS, endpoint="user"))
    admin.add_view(TaskView(Task, db, name="Tasks", category=RECORDS, endpoint="task"))
    admin.add_view(PostView(Post, db, name="Posts", category=RECORDS, endpoint="post"))
    admin.add_view(TagView(Tag, db, name="Tags", category=RECORDS, endpoint="tag"))
    return admin
