"""Tags on a model view: coloured badges in the list, and "Add tag…"/"Remove tag…" bulk actions.

An action that needs input cannot ask for it in Flask-Admin's action dropdown, so, as Django's
admin does, the action answers with an intermediate page that carries the selected ids and posts,
with its CSRF token, to ``bulk_tag_view``. The ids travel in the POST body, not in a redirect URL:
ten thousand of them would overflow the request line of gunicorn or any proxy.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from flask import abort, flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.model.fields import AjaxSelectField
from markupsafe import Markup, escape
from wtforms import Form
from wtforms.validators import InputRequired

from webapp import tagging
from webapp.admin import compat
from webapp.admin.inputs.selection import as_ids, posted_ids, sample
from webapp.admin.listing.row_urls import row_url
from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.formatting import noun_for
from webapp.models import Tag
from webapp.models.enums import OperatorRole
from webapp.models.tags import COLOR_PATTERN
from webapp.redirects import return_target
from webapp.trash import plural

FALLBACK_COLOUR = "#6c757d"


BLACK, WHITE = "#000000", "#ffffff"


@functools.lru_cache(maxsize=4096)  # badges are drawn per row; a page has a few colours
def text_colour(background: str) -> str:
    """Black or white text, whichever contrasts more with the badge's colour (WCAG's ratio). One of
    the two is always at least 4.58:1 against any colour, above the 4.5:1 that AA asks of text."""
    return BLACK if contrast_ratio(BLACK, background) >= contrast_ratio(WHITE, background) else WHITE


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.1's contrast ratio of two ``#rrggbb`` colours, from 1 (none) to 21 (black on white)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def relative_luminance(colour: str) -> float:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def tag_badge(tag: Tag, href: str | None = None) -> Markup:
    # Drawn for every tag of every row of a list: plain string building, not Markup.format.
    colour = tag.color if re.fullmatch(COLOR_PATTERN, tag.color or "") else FALLBACK_COLOUR
    style = f"background-color: {colour}; color: {text_colour(colour)}"
    name = escape(tag.name)
    if href:
        return Markup(
            f'<a class="badge tag-badge" style="{style}" href="{escape(href)}" title="Only “{name}”">{name}</a>'
        )
    return Markup(f'<span class="badge tag-badge" style="{style}">{name}</span>')


def linked_tag_badges(tags: Iterable[Tag]) -> Markup:
    """A row's tags as badges linking to the current list filtered by each (one lookup of the
    request's drawn badges per row, not per tag; the badges are markup already, so they are joined
    as text rather than escaped again one by one by ``Markup.join``)."""
    badges: dict[tuple[Any, ...], Markup] = g.setdefault("linked_tag_badges", {})
    return Markup(" ".join([linked_tag_badge(tag, badges) for tag in tags]))


def linked_tag_badge(tag: Tag, badges: dict[tuple[Any, ...], Markup]) -> Markup:
    """A tag's badge linking to the current list filtered by it, drawn once per request and tag
    (``badges``: those drawn so far): a list page shows the same few tags dozens of times."""
    key = (tag.id, tag.name, tag.color)
    badge = badges.get(key)
    if badge is None:
        badge = badges[key] = tag_badge(tag, tag_filter_url(".index_view", tag.id))
    return badge


def tag_filter_url(endpoint: str, tag_id: int) -> str:
    """A list filtered by one tag (``TagFilter`` named "Tag", operation "is")."""
    return row_url(endpoint, tag_id, argument="flt0_tag_is")


class TagChoiceForm(Form):
    """The tag an intermediate page asks for; ``tag`` is bound to the view's picker per request."""


def tag_choice_form(picker: Any, formdata: Any) -> Form:
    form_class = type(
        "BoundTagChoiceForm",
        (TagChoiceForm,),
        {"tag": AjaxSelectField(picker, "Tag", validators=[InputRequired("Choose a tag.")])},
    )
    return form_class(formdata)


class TaggableViewMixin(ModelViewMixinBase):
    model: Any
    endpoint_roles: ClassVar[Mapping[str, OperatorRole]] = {"bulk_tag_view": OperatorRole.EDITOR}

    OPERATIONS: ClassVar[dict[str, Callable[..., tagging.BulkOutcome]]] = {
        "add": tagging.add_tag,
        "remove": tagging.remove_tag,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        formatters = dict(getattr(self, "column_formatters", None) or {})
        formatters.setdefault("tags", self._tags_formatter)
        self.column_formatters = formatters
        super().__init__(*args, **kwargs)

    @staticmethod
    def _tags_formatter(view: Any, context: Any, model: Any, name: str) -> Markup:
        return linked_tag_badges(model.tags)

    @action("add_tag", "Add tag…")
    def action_add_tag(self, ids: list[str]) -> Any:
        return self.tag_chooser(as_ids(ids), "add", self.tag_choice_form(None))

    @action("remove_tag", "Remove tag…")
    def action_remove_tag(self, ids: list[str]) -> Any:
        return self.tag_chooser(as_ids(ids), "remove", self.tag_choice_form(None))

    def tag_choice_form(self, formdata: Any) -> Form:
        return tag_choice_form(compat.ajax_loader(self, "tags"), formdata)

    def tag_chooser(self, ids: list[int], mode: str, form: Form) -> Any:
        noun = self.model.__name__.lower()
        heading = "Add a tag to" if mode == "add" else "Remove a tag from"
        return self.render(
            "admin/records/chooser.html",
            heading=f"{heading} {plural(len(ids), self.model)}",
            explanation=(
                f"Choose the tag to add. {noun.capitalize()}s that already carry it are left as they are."
                if mode == "add"
                else f"Choose the tag to remove. {noun.capitalize()}s without it are left as they are."
            ),
            form=form,
            ids=ids,
            sample=sample(self.model, ids, self.model.live()),
            hidden={"mode": mode},
            submit_label="Add tag" if mode == "add" else "Remove tag",
            action_url=url_for(".bulk_tag_view"),
            return_url=return_target() or url_for(".index_view"),
        )

    @expose("/bulk-tag/", methods=("POST",))
    def bulk_tag_view(self) -> Any:
        mode = request.form.get("mode", "")
        if mode not in self.OPERATIONS:
            abort(400, f"mode must be one of {', '.join(self.OPERATIONS)}. Nothing was changed.")
        ids = posted_ids()
        if not ids:
            flash("Select at least one record first.", "warning")
            return redirect(return_target() or url_for(".index_view"))
        form = self.tag_choice_form(request.form)
        if not form.validate():
            return self.tag_chooser(ids, mode, form)
        tag: Tag = form.tag.data
        # Worded before the commit expires the tag: a merge may delete it the moment we commit.
        message = self.committed(lambda: self.bulk_tag_message(mode, tag, self.OPERATIONS[mode](self.model, ids, tag)))
        if message is None:
            return self.tag_chooser(ids, mode, form)
        flash(message, "success")
        return redirect(return_target() or url_for(".index_view"))

    def bulk_tag_message(self, mode: str, tag: Tag, outcome: tagging.BulkOutcome) -> str:
        changed = plural(outcome.changed, self.model)
        if mode == "add":
            message, unchanged = f"Tagged {changed} “{tag.name}”", "already had it"
        else:
            message, unchanged = f"Removed “{tag.name}” from {changed}", "did not have it"
        others = [f"{outcome.unchanged:,} {unchanged}"] if outcome.unchanged else []
        if outcome.gone:
            others.append(f"{outcome.gone:,} {noun_for(outcome.gone, 'was', 'were')} gone (deleted meanwhile)")
        return "; ".join([message, *others]) + "."
