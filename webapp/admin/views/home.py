"""The admin home: where an operator lands after signing in."""

from __future__ import annotations

from flask_admin import expose

from webapp.admin.base import AdminHomeView
from webapp.admin.views.audit_log import recent_actions_of_current_operator


class HomeView(AdminHomeView):
    """Shows the signed-in operator's own recent changes, as Django's admin home does."""

    @expose("/")
    def index(self) -> str:
        return self.render("admin/home.html", recent_actions=recent_actions_of_current_operator())
