"""Tags: coloured labels on tasks and posts, with how many live records use each."""

from __future__ import annotations

from typing import Any, ClassVar

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from wtforms.validators import DataRequired

from webapp import audit, tagging, trash
from webapp.admin import compat
from webapp.admin.base import AdminModelView
from webapp.admin.features.importing import ImportingViewMixin
from webapp.admin.features.soft_delete import SoftDeleteViewMixin
from webapp.admin.features.tag_actions import tag_badge, tag_choice_form, tag_filter_url
from webapp.admin.inputs.filters import carries_tag
from webapp.admin.inputs.forms import HEX_COLOUR, UniqueIgnoringCase
from webapp.admin.inputs.pickers import tag_picker
from webapp.admin.inputs.selection import as_ids, posted_ids, sample
from webapp.admin.listing.display import number
from webapp.admin.listing.related import RelatedRecords, related_records
from webapp.extensions import db
from webapp.models import OperatorRole, Tag
from webapp.models.tags import normalize_tag_name, tag_name_key
from webapp.trash import describe


def merged_into(sources: list[Tag], target: Tag) -> dict[type[Any], int]:
    """The merge and the move of its sources to the trash: one batch, which one undo takes back."""
    with audit.in_batch(audit.new_batch_id()):
        gained = tagging.merge_tags(sources, target)
        trash.soft_delete(Tag, [source.id for source in sources], current_user.id)
    return gained


USAGE_COLUMNS = {model.__tablename__: model for model in tagging.taggable_models()}


def _badge(view: Any, context: Any, tag: Tag, name: str) -> Markup:
    return tag_badge(tag)


def _swatch(view: Any, context: Any, tag: Tag, name: str) -> Markup:
    return Markup('<span class="colour-swatch" style="background-color: {}"></span> <code>{}</code>').format(
        tag.color, tag.color
    )


def _usage(view: Any, context: Any, tag: Tag, name: str) -> Markup:
    count = getattr(tag, tagging.usage_counter(USAGE_COLUMNS[name]).key)
    href = tag_filter_url(f"{USAGE_COLUMNS[name].__name__.lower()}.index_view", tag.id)
    return Markup('<a href="{}">{}</a>').format(href, number(count))


class TagView(ImportingViewMixin, SoftDeleteViewMixin, AdminModelView):
    column_list = ("name", "color", *USAGE_COLUMNS, "created_at")
    column_list_reads = tuple(tagging.usage_counter(model).key for model in USAGE_COLUMNS.values())
    column_details_list = ("name", "color", "created_at", "updated_at")
    column_labels = {"color": "Colour", "name_key": "Name", "created_at": "Created", "updated_at": "Updated"}
    column_labels.update({name: f"Live {name}" for name in USAGE_COLUMNS})
    column_formatters = {"name": _badge, "color": _swatch, **{name: _usage for name in USAGE_COLUMNS}}
    column_sortable_list = ("name", "created_at")
    column_searchable_list = ("name_key",)  # with the search keyed as names are (search_query)
    column_filters = ("created_at",)
    column_default_sort = [("name", False)]
    form_columns = ("name", "color")
    form_args = {
        "name": {
            # Normalised first, so the length, the emptiness and the uniqueness are the stored name's.
            "filters": [lambda value: normalize_tag_name(value) if value else value],
            "validators": [DataRequired(), UniqueIgnoringCase(Tag.name, key=(Tag.name_key, tag_name_key))],
        },
        "color": {"label": "Colour", "validators": [HEX_COLOUR], "description": "Six hex digits, like #17a2b8."},
    }
    form_ajax_refs = {"target": tag_picker("target")}
    # Moving a tag to the trash hides it from every record, and merging rewrites them: admin
    # decisions (restoring, as for every record, is an editor's).
    endpoint_roles: ClassVar[dict[str, OperatorRole]] = {
        "delete_view": OperatorRole.ADMIN,
        "merge_view": OperatorRole.ADMIN,
    }
    action_roles: ClassVar[dict[str, OperatorRole]] = {"merge": OperatorRole.ADMIN, "delete": OperatorRole.ADMIN}

    details_template = "admin/records/details_with_related.html"

    def related(self, tag: Tag) -> list[RelatedRecords]:
        """What the tag's page lists under the record: the tasks and posts that carry it."""
        return [
            related_records(
                model, carries_tag(model, tag.id), tag_filter_url(f"{model.__name__.lower()}.index_view", tag.id)
            )
            for model in USAGE_COLUMNS.values()
        ]

    def search_query(self, query: Any, joins: dict[Any, Any], search: str) -> tuple[Any, dict[Any, Any]]:
        """The typed text is keyed as tag names are compared: "äp" finds "Äpfel" on SQLite too, and
        a name pasted with an invisible character in it still finds its tag."""
        return super().search_query(query, joins, tag_name_key(search))

    @action("merge", "Merge into another tag…")
    def action_merge(self, ids: list[str]) -> Any:
        return self.merge_chooser(as_ids(ids), tag_choice_form(compat.ajax_loader(self, "target"), None))

    def merge_chooser(self, ids: list[int], form: Any) -> Any:
        return self.render(
            "admin/records/chooser.html",
            heading=f"Merge {len(ids):,} tag{'s' if len(ids) != 1 else ''} into another",
            explanation=(
                "Every task and post carrying a selected tag will carry the tag you choose instead; "
                "the selected tags then go to the trash. “Undo” on the merge's audit-log entry takes it back."
            ),
            form=form,
            ids=ids,
            sample=sample(Tag, ids, Tag.live()),
            hidden={},
            submit_label="Merge",
            action_url=url_for(".merge_view"),
            return_url=url_for(".index_view"),
        )

    @expose("/merge/", methods=("POST",))
    def merge_view(self) -> Any:
        ids = posted_ids()
        if not ids:
            flash("Select at least one tag to merge first.", "warning")
            return redirect(url_for(".index_view"))
        form = tag_choice_form(compat.ajax_loader(self, "target"), request.form)
        if not form.validate():
            return self.merge_chooser(ids, form)
        target: Tag = form.tag.data
        sources = list(db.session.scalars(select(Tag).where(Tag.id.in_(ids), Tag.live(), Tag.id != target.id)))
        if not sources:
            form.tag.errors = ["Choose a tag other than the ones being merged."]
            return self.merge_chooser(ids, form)
        names = ", ".join(f"“{source.name}”" for source in sources)
        gained = self.committed(lambda: merged_into(sources, target))
        if gained is None:
            return self.merge_chooser(ids, form)
        moved = describe(gained.items())
        flash(
            f"Merged {names} into “{target.name}”" + (f"; {moved} gained it." if moved else ".") + " The merged tags "
            "are in the trash.",
            "success",
        )
        return redirect(url_for(".index_view"))
