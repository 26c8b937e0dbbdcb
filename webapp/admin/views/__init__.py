"""Declarative admin views, one short module per model; behaviour lives in the mixins."""

from webapp.admin.views.posts import PostView
from webapp.admin.views.tags import TagView
from webapp.admin.views.tasks import TaskView
from webapp.admin.views.users import UserView

__all__ = ["PostView", "TagView", "TaskView", "UserView"]
