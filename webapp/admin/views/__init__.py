"""Every concrete page of the admin, one module per page or model: the model views (users, tasks,
posts, tags, operators, the audit log), the home page, the database dashboard, and ``/metrics``.

A view declares; behaviour lives below it. Views may import ``webapp.admin.base`` and the
``features``, ``listing`` and ``inputs`` rooms, the domain modules (``webapp.trash``,
``webapp.tagging``, ``webapp.audit``, ``webapp.monitoring``…) and the models; nothing below
``views`` imports a view. ``webapp.monitoring`` holds the dashboard's data; its page, JSON and
``/metrics`` live here and read it.
"""

from webapp.admin.views.audit_log import AuditLogView
from webapp.admin.views.dashboard import DashboardView
from webapp.admin.views.home import HomeView
from webapp.admin.views.operators import OperatorView
from webapp.admin.views.posts import PostView
from webapp.admin.views.tags import TagView
from webapp.admin.views.tasks import TaskView
from webapp.admin.views.users import UserView

__all__ = ["AuditLogView", "DashboardView", "HomeView", "OperatorView", "PostView", "TagView", "TaskView", "UserView"]
