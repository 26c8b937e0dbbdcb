"""The admin home: where an operator lands after signing in."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_admin import expose
from sqlalchemy import select

from webapp import database_limits
from webapp.admin import compat
from webapp.admin.base import AdminHomeView
from webapp.admin.features.importing import ImportingViewMixin
from webapp.admin.listing.counting import ListCount, count_rows
from webapp.admin.views.audit_log import recent_actions, recent_actions_of_current_operator
from webapp.auth.permissions import current_operator_has
from webapp.extensions import db
from webapp.models import OperatorRole
from webapp.models.mixins import SoftDeleteMixin
from webapp.monitoring import current_monitoring
from webapp.monitoring.findings import Finding
from webapp.monitoring.report import current_findings

# The home page shows the first few findings; the dashboard, which it links to, shows them all.
HOME_FINDINGS = 5


@dataclass(frozen=True)
class RecordCount:
    name: str
    count: ListCount
    list_url: str


class HomeView(AdminHomeView):
    """Shows how many records each list holds, the signed-in operator's own recent changes (as
    Django's admin home does) and, for admins, everyone's and what the dashboard finds."""

    @expose("/")
    def index(self) -> str:
        admin = current_operator_has(OperatorRole.ADMIN)
        return self.render(
            "admin/home.html",
            record_counts=self.record_counts(),
            recent_actions=recent_actions_of_current_operator(),
            everyones_actions=recent_actions() if admin else None,
            findings=self.findings() if admin else None,
            findings_shown=HOME_FINDINGS,
        )

    def findings(self) -> list[Finding]:
        """The dashboard's current findings, read as the dashboard reads them (its time limits,
        each panel failing alone), from the few bounded statements the findings are made of."""
        database_limits.use_limits(database_limits.dashboard_limits())
        return current_findings(current_monitoring(), db.session)

    def record_counts(self) -> list[RecordCount]:
        """Live rows per record list the operator may open: exact when cheap, else PostgreSQL's
        estimate ("about N"), as the lists count them."""
        counts = []
        for view in compat.registered_views(self.admin):
            if not isinstance(view, ImportingViewMixin) or not view.is_accessible():
                continue  # the record lists (users, tasks, posts, tags), not the log or operators
            model = view.model
            rows = select(model.id)
            if issubclass(model, SoftDeleteMixin):
                rows = rows.where(model.live())
            count = count_rows(db.session(), rows)
            counts.append(RecordCount(view.name, count, url_for(f"{view.endpoint}.index_view")))
        return counts
