"""Tags: short coloured labels attached to tasks and posts."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.mixins import TimestampMixin

COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}$"


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class Tag(TimestampMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    color: Mapped[str] = mapped_column(String(7), nullable=False, default="#6c757d", server_default="#6c757d")

    __table_args__ = (
        Index("uq_tags_name_lower", func.lower(name), unique=True),
        # The full #RRGGBB pattern is validated by the form; this portable check stops the worst.
        CheckConstraint("length(color) = 7 AND substr(color, 1, 1) = '#'", name="color_hex"),
    )

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Tag {self.id} {self.name}>"
