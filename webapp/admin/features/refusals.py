"""What an operator is told when a save is refused: which fields to fix, never raw SQL.

Flask-Admin answers a form that does not validate with "Failed to create record." at the top of
the page, far from the messages under the fields, and a database error with the database's own
text (SQL and all). Here the banner names the invalid fields, each a link to it, and the first
one gets the focus; a database error becomes a message that says nothing was saved and why.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import flash, request
from flask_admin.babel import gettext
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from webapp import log_redaction
from webapp.admin.inputs.forms import invalid_fields, refusal_message
from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.errors import is_database_unavailable, stopped_message
from webapp.extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")

# What Flask-Admin flashes when a create or edit form does not validate; it names no field.
NAMELESS_REFUSALS = ("Failed to create record.", "Failed to save record.")
# The flash category of the banner that names the fields; shown as a danger alert.
NAMED_REFUSAL = "refusal"


class RefusalsMixin(ModelViewMixinBase):
    def committed(self, change: Callable[[], T]) -> T | None:
        """All or nothing: run ``change`` and commit what it did (rows, cascade, audit entries
        together); on a database error roll it all back, tell the operator why
        (:meth:`handle_view_exception`) and return None."""
        try:
            outcome = change()
            db.session.commit()
        except SQLAlchemyError as error:
            db.session.rollback()
            self.handle_view_exception(error)
            return None
        return outcome

    def render(self, template: str, **kwargs: Any) -> Any:
        form_opts = kwargs.get("form_opts")
        if form_opts is not None:
            # Flask-Admin's field macro adds "is-invalid" to the widget arguments it is handed,
            # which are this view's own ``form_widget_args``: without a copy per page, one refused
            # save marks that field red on every later form, for every operator of the process.
            form_opts.widget_args = copy.deepcopy(form_opts.widget_args)
            if kwargs.get("form") is not None:
                self.explain_refusal(kwargs["form"], form_opts)
        return super().render(template, **kwargs)

    def explain_refusal(self, form: Any, form_opts: Any) -> None:
        """Name the fields a submitted form was refused on, and start the operator on the first
        (select2 pickers honour ``autofocus`` too). Flask-Admin's nameless banner, flashed just
        before, is then left out of the page by :func:`shown_messages`."""
        invalid = invalid_fields(form)
        if request.method != "POST" or not invalid:
            return
        flash(refusal_message(invalid), NAMED_REFUSAL)
        form_opts.widget_args.setdefault(invalid[0].short_name, {})["autofocus"] = True

    def handle_view_exception(self, exc: Exception) -> bool:
        # Flask-Admin rolls the session back after this.
        if isinstance(exc, IntegrityError):
            log.warning("integrity error in %s: %s", self.endpoint, log_redaction.describe(exc))
            flash(
                "Nothing was saved: another record already uses one of these values, or a value "
                "the database requires is missing. Check the form and save again.",
                "error",
            )
            return True
        if isinstance(exc, SQLAlchemyError) and is_database_unavailable(exc) and not stopped_message(exc):
            # The database is out (its connection lost mid-save): the 503 page says so. The form
            # again would need the database to render, and fail a second time, as a 500.
            raise exc
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


def shown_messages(messages: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The flashed messages a page shows: Flask-Admin's nameless refusal is left out when the
    banner naming the fields says the same, better."""
    messages = list(messages)
    if not any(category == NAMED_REFUSAL for category, _ in messages):
        return messages
    nameless = {gettext(message) for message in NAMELESS_REFUSALS}
    return [(category, message) for category, message in messages if message not in nameless]
