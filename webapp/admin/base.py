"""The shared bases of every admin view: the role checks of ``features.access`` on a custom page,
the home page and, in ``AdminModelView``, on a model view that also audits, counts, lists and
exports through the ``features``, ``listing`` and ``inputs`` rooms.

Model views in ``views/`` declare columns, filters and search; behaviour shared by several
models (soft delete, tagging, audit) lives in the mixins of ``features/``, written once.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from flask import abort, flash, request, session, url_for
from flask_admin import AdminIndexView, BaseView
from flask_admin.babel import gettext
from flask_admin.contrib.sqla import ModelView
from sqlalchemy import inspect, or_
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import RelationshipDirection, joinedload, load_only, selectinload

from webapp import log_redaction
from webapp.admin.features.access import ProtectedViewMixin, highest_role
from webapp.admin.features.auditing import AuditedViewMixin
from webapp.admin.inputs.filters import FilterConverter
from webapp.admin.inputs.forms import ModelConverter, invalid_fields, refusal_message
from webapp.admin.inputs.ids import parse_id
from webapp.admin.inputs.search import like_pattern, matches, search_words
from webapp.admin.listing.counting import EstimatedCountMixin, ListCount
from webapp.admin.listing.display import DETAIL_FORMATTERS, LIST_FORMATTERS
from webapp.admin.listing.export import StreamingExportMixin, is_exporting
from webapp.admin.listing.list_rows import ListRows
from webapp.admin.listing.row_urls import row_url
from webapp.auth.permissions import current_operator_has
from webapp.errors import stopped_message
from webapp.models.enums import OperatorRole

log = logging.getLogger(__name__)

# What Flask-Admin flashes when a create or edit form does not validate; it names no field.
NAMELESS_REFUSALS = ("Failed to create record.", "Failed to save record.")


def _many_to_one(relationship: Any) -> bool:
    return relationship.direction is RelationshipDirection.MANYTOONE


def _default_sort_names(default_sort: Any) -> set[str]:
    """Column names in Flask-Admin's ``column_default_sort``: a name, ``(name, desc)`` or a list of
    either."""
    if not default_sort:
        return set()
    entries = default_sort if isinstance(default_sort, list) else [default_sort]
    return {entry[0] if isinstance(entry, tuple) else entry for entry in entries}


def _withdraw_nameless_refusal() -> bool:
    """Take Flask-Admin's refusal banner back out of the messages flashed for this page (Flask keeps
    them in the session until a template shows them); whether it was there."""
    nameless = {gettext(message) for message in NAMELESS_REFUSALS}
    flashed = session.get("_flashes", [])
    kept = [(category, message) for category, message in flashed if message not in nameless]
    if len(kept) == len(flashed):
        return False
    session["_flashes"] = kept
    return True


class ProtectedView(ProtectedViewMixin, BaseView):
    """A custom (non-model) admin page."""


class AdminHomeView(ProtectedViewMixin, AdminIndexView):
    """The admin home page."""


class AdminModelView(ProtectedViewMixin, StreamingExportMixin, AuditedViewMixin, EstimatedCountMixin, ModelView):
    """A model view whose buttons follow the operator's role (the server checks regardless),
    whose every change is audited, and whose list pages cost the same few statements whatever
    their size (and whatever the table's: large lists show an estimated count)."""

    # Bulk actions (``@action``) need ``write_role`` unless listed here (e.g. merge: admin).
    action_roles: ClassVar[Mapping[str, OperatorRole]] = {}

    # Columns a list cell's formatter reads besides its own (loaded with the page's rows).
    column_list_reads: tuple[str, ...] = ()
    page_size = 50
    page_size_options = (20, 50, 100, 200)
    filter_converter = FilterConverter()
    model_form_converter = ModelConverter
    can_set_page_size = True
    can_view_details = True
    column_display_pk = False
    named_filter_urls = True  # ?flt0_status_is=active rather than ?flt0_3=active: links can be built
    # Flask-Admin would joinedload every relationship in the list without caring whether the query
    # is an export's; ``get_query`` loads them as ``eager_loads`` says instead.
    column_auto_select_related = False
    column_type_formatters = LIST_FORMATTERS
    column_type_formatters_detail = DETAIL_FORMATTERS
    # Exports get plain values from the type formatters, never a column formatter's HTML.
    column_formatters_export: ClassVar[dict[str, Any]] = {}
    list_template = "admin/records/list.html"
    create_template = "admin/records/create.html"

    @property
    def extra_css(self) -> list[str]:
        return [url_for("static", filename="css/admin.css")]

    @property
    def can_create(self) -> bool:
        return current_operator_has(self.write_role)

    @property
    def can_edit(self) -> bool:
        return current_operator_has(self.write_role)

    @property
    def can_delete(self) -> bool:
        return current_operator_has(self.role_for_endpoint("delete_view"))

    @property
    def can_export(self) -> bool:
        return current_operator_has(self.write_role)

    def search_placeholder(self) -> str | None:
        if not self.column_searchable_list:
            return None
        labels = ", ".join(self.get_column_name(name).lower() for name in self.column_searchable_list)
        return f"Search {labels}"

    def _apply_search(self, query: Any, count_query: Any, joins: Any, count_joins: Any, search: str) -> Any:
        """Flask-Admin's search (every word must match one of the searched columns), bounded as
        ``webapp.admin.inputs.search`` says, with ``%`` and ``_`` matched as typed. The list, its count,
        the export and the trash all search through here."""
        for word in search_words(search).words:
            pattern = like_pattern(word)
            query, joins = self._matching_word(query, joins, pattern)
            if count_query is not None:
                count_query, count_joins = self._matching_word(count_query, count_joins, pattern)
        return query, count_query, joins, count_joins

    def _matching_word(self, query: Any, joins: Any, pattern: str) -> tuple[Any, Any]:
        """``query`` narrowed to rows where one of the searched columns matches ``pattern``."""
        conditions = []
        for column, path in self._search_fields or ():
            query, joins, alias = self._apply_path_joins(query, joins, path, inner_join=False)
            conditions.append(matches(column if alias is None else getattr(alias, column.key), pattern))
        return query.filter(or_(*conditions)), joins

    def search_notice(self, search: str | None) -> str | None:
        """What the page says when the search ran with less than was typed."""
        return search_words(search).notice()

    def eager_loads(self) -> list[Any]:
        """Every relationship shown in the list (owner, tags) joined into the list's one
        statement: SQLAlchemy joins collections to the page's rows in a subquery, after LIMIT, so
        the page still has its size. An export streams its rows in batches (``yield_per``), which
        cannot join a collection: there, one ``SELECT … IN`` per batch loads it."""
        collection_loader = selectinload if is_exporting() else joinedload
        return [
            joinedload(relationship.class_attribute)
            if _many_to_one(relationship)
            else collection_loader(relationship.class_attribute)
            for relationship in self.listed_relationships()
        ]

    def listed_relationships(self) -> list[Any]:
        """The relationships among the list's columns (a task's owner and tags)."""
        relationships = inspect(self.model).relationships
        return [relationships[name] for name in self.column_list or () if name in relationships]

    def shown_columns_only(self) -> list[Any]:
        """On the list page, only the columns it reads: those listed, the keys (own, of listed
        relationships, the version) and the sort columns. A task row otherwise carries its
        description and JSON metadata through the page's query (once per tag, as the tags are
        joined in) only to be ignored: 0.2–0.4 ms a page on the benchmark's short texts, more
        where descriptions are long."""
        if request.endpoint != f"{self.endpoint}.index_view" or is_exporting() or not self.column_list:
            return []
        mapper = inspect(self.model)
        keys = [*mapper.primary_key, *([mapper.version_id_col] if mapper.version_id_col is not None else [])]
        for relationship in self.listed_relationships():
            if _many_to_one(relationship):
                keys.extend(relationship.local_columns)
        read = set(self.column_list) | {mapper.get_property_by_column(column).key for column in keys}
        read |= _default_sort_names(self.column_default_sort) | set(self._sortable_columns)
        read |= set(self.column_list_reads)
        attributes = [getattr(self.model, prop.key) for prop in mapper.column_attrs if prop.key in read]
        return [load_only(*attributes)]

    def get_query(self) -> Any:
        return super().get_query().options(*self.eager_loads(), *self.shown_columns_only())

    def _get_list_extra_args(self) -> Any:
        # A hand-edited ?page=-5 would become a negative OFFSET, which PostgreSQL refuses.
        view_args = super()._get_list_extra_args()
        view_args.page = max(view_args.page or 0, 0)
        return view_args

    def get_one(self, id: Any) -> Any:
        # Flask-Admin's own get_one is ``session.get``, which ignores ``get_query``: every scope a
        # view puts on its list (soft delete) must also hold for the edit and details URLs.
        pk = parse_id(id)
        if pk is None:
            return None
        return self.get_query().filter(self.model.id == pk).one_or_none()

    def handle_view_exception(self, exc: Exception) -> bool:
        # Flask-Admin flashes the raw database error (SQL and all); the operator needs to know
        # that nothing was saved and what to do. Flask-Admin rolls the session back afterwards.
        if isinstance(exc, IntegrityError):
            log.warning("integrity error in %s: %s", self.endpoint, log_redaction.describe(exc))
            flash(
                "Nothing was saved: another record already uses one of these values, or a value "
                "the database requires is missing. Check the form and save again.",
                "error",
            )
            return True
        if isinstance(exc, SQLAlchemyError):
            # A timeout or a collision with another transaction is the database's decision, not a bug.
            stopped = stopped_message(exc)
            if stopped:
                log.warning("database stopped the change in %s: %s", self.endpoint, log_redaction.describe(exc))
            else:
                log.exception("database error in %s", self.endpoint)
            flash(stopped or "Nothing was saved: the database refused the change. Try again in a moment.", "error")
            return True
        return super().handle_view_exception(exc)

    def render(self, template: str, **kwargs: Any) -> Any:
        count = kwargs.get("count")
        if isinstance(count, int) and not isinstance(count, ListCount):
            kwargs["count"] = ListCount(count)  # printed as 1,234
        kwargs.setdefault("row_url", row_url)
        kwargs["search_notice"] = self.search_notice(kwargs.get("search"))
        form_opts = kwargs.get("form_opts")
        if form_opts is not None:
            # Flask-Admin's field macro adds "is-invalid" to the widget arguments it is handed,
            # which are this view's own ``form_widget_args``: without a copy per page, one refused
            # save marks that field red on every later form, for every operator of the process.
            form_opts.widget_args = copy.deepcopy(form_opts.widget_args)
            if kwargs.get("form") is not None:
                self.explain_refusal(kwargs["form"], form_opts)
        return super().render(template, **kwargs)

    def list_rows(
        self, list_columns: Any, actions: Any, row_actions: Any, return_url: str, delete_question: str
    ) -> ListRows:
        """The list template's row renderer for this page."""
        return ListRows(self, list_columns, bool(actions), row_actions, return_url, delete_question)

    def explain_refusal(self, form: Any, form_opts: Any) -> None:
        """Flask-Admin answers a create or edit form that does not validate with "Failed to create
        record." at the top of the page, far from the messages under the fields. Name those fields
        instead, each a link to it, and start the operator on the first (select2 pickers honour
        ``autofocus`` too)."""
        invalid = invalid_fields(form)
        if not invalid or not _withdraw_nameless_refusal():
            return
        flash(refusal_message(invalid), "error")
        form_opts.widget_args.setdefault(invalid[0].short_name, {})["autofocus"] = True

    def role_for_action(self, name: str) -> OperatorRole:
        return highest_role(self.required_role, self.declared_roles("action_roles").get(name, self.write_role))

    def is_action_allowed(self, name: str) -> bool:
        return current_operator_has(self.role_for_action(name)) and super().is_action_allowed(name)

    def handle_action(self, return_view: str | None = None) -> Any:
        # Flask-Admin answers a forbidden action with a flash and a redirect; a forged POST
        # deserves a plain 403.
        action = request.form.get("action", "")
        if action and not current_operator_has(self.role_for_action(action)):
            abort(403)
        return super().handle_action(return_view)
