"""The admin home: where an operator lands after signing in."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_admin import expose
from sqlalchemy import select

from webapp.admin import compat
from webapp.admin.base import AdminHomeView
from webapp.admin.features.importing import ImportingViewMixin
from webapp.admin.listing.counting import ListCount, count_rows
from webapp.admin.views.audit_log import recent_actions, recent_actions_of_current_operator
from webapp.auth.permissions import current_operator_has
from webapp.extensions import db
from webapp.models import OperatorRole
from webapp.models.mixins import SoftDeleteMixin


@dataclass(frozen=True)
class RecordCount:
    name: str
    count: ListCount
    list_url: str


class HomeView(AdminHomeView):
    """Shows how many records each list holds, the signed-in operator's own recent changes (as
    Django's admin home does) and, for admins, everyone's."""

    @expose("/")
    def index(self) -> str:
        everyone = recent_actions() if current_operator_has(OperatorRole.ADMIN) else None
        return self.render(
            "admin/home.html",
            record_counts=self.record_counts(),
            recent_actions=recent_actions_of_current_operator(),
            everyones_actions=everyone,
        )

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
