"""The rows an operator selected on a list, as they travel through bulk actions and their pages."""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import select

from webapp.admin.inputs.ids import parse_id
from webapp.extensions import db

SAMPLE_SIZE = 10


def as_ids(values: list[Any]) -> list[int]:
    """Row ids from a form; anything that is not one is dropped rather than sent to the database."""
    return [number for number in map(parse_id, values) if number is not None]


def posted_ids() -> list[int]:
    """The selected rows of a list form (``rowid``, once per row, or comma-separated on the
    intermediate pages, which can carry thousands), or the one row whose own button was pressed."""
    if request.form.get("only"):
        return as_ids([request.form["only"]])
    return as_ids([part for value in request.form.getlist("rowid") for part in value.split(",")])


def sample(model: type[Any], ids: list[int], criterion: Any) -> list[str]:
    """A few of the selected rows by name, so an intermediate page says what it will act on."""
    query = select(model).where(model.id.in_(ids), criterion).order_by(model.id).limit(SAMPLE_SIZE)
    return [str(row) for row in db.session.scalars(query)]
