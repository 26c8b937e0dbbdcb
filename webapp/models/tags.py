"""Tags: short coloured labels attached to tasks and posts."""

from __future__ import annotations

import unicodedata

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, validates

from webapp.extensions import db
from webapp.models.mixins import SoftDeleteMixin, TimestampMixin, trash_index

COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}$"
# Format characters (zero-width space and joiners, word joiner, byte order mark, soft hyphen,
# direction marks) and control characters: invisible, so two names differing by them look alike.
INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc"})
# The rest of Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt), which fonts
# draw as nothing but which are marks or letters by category: the combining grapheme joiner,
# Mongolian and standard variation selectors, the Hangul fillers, unassigned reserved ranges.
INVISIBLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0FFF),
)


def is_invisible(char: str) -> bool:
    """Drawn as nothing: a control, format or other default-ignorable character."""
    if unicodedata.category(char) in INVISIBLE_CATEGORIES:
        return True
    code = ord(char)
    return any(start <= code <= end for start, end in INVISIBLE_RANGES)


def normalize_tag_name(name: str) -> str:
    """The form a tag name is stored in: invisible characters removed, compatibility forms folded
    (NFKC: full-width letters, ligatures, combining accents composed), runs of any whitespace one
    space, and no space at either end."""
    visible = "".join(char for char in name if char.isspace() or not is_invisible(char))
    return " ".join(unicodedata.normalize("NFKC", visible).split())


def tag_name_key(name: str) -> str:
    """What two names must share to be the same tag: the normalised name without letter case.

    Python's case folding, not the database's ``lower()``: SQLite's only folds ASCII (``Äpfel``
    and ``äpfel`` would be two tags there), and folding also matches ``ß`` with ``ss``. The key is
    stored, so the unique index compares keys on every database.
    """
    return unicodedata.normalize("NFKC", normalize_tag_name(name).casefold())


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class Tag(TimestampMixin, SoftDeleteMixin, db.Model):  # type: ignore[name-defined]
    """A tag in the trash keeps its name: the unique index on ``name_key`` covers trashed tags too.

    A deliberate choice, the one users make for their email: restoring a tag then never collides
    with a newcomer of the same name, and the name keeps meaning one tag in the audit trail. The
    form that meets a trashed tag's name says so, and that restoring it brings back its links.
    Its links stay while it is in the trash (hidden from records, lists, filters and pickers).
    """

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    # Case folding may lengthen a name (ß is ss), hence text rather than the name's 50 characters.
    name_key: Mapped[str] = mapped_column(Text, nullable=False)
    color: Mapped[str] = mapped_column(String(7), nullable=False, default="#6c757d", server_default="#6c757d")
    # How many live tasks and posts carry the tag: kept by the database's own triggers, in the
    # transaction of every change that moves them (migration 0019), never written by the app.
    task_count: Mapped[int] = mapped_column(nullable=False, server_default="0")
    post_count: Mapped[int] = mapped_column(nullable=False, server_default="0")

    __table_args__ = (
        Index("uq_tags_name_key", "name_key", unique=True),
        trash_index("ix_tags_deleted_at"),
        # The full #RRGGBB pattern is validated by the form; this portable check stops the worst.
        CheckConstraint("length(color) = 7 AND substr(color, 1, 1) = '#'", name="color_hex"),
    )

    @validates("name")
    def _normalize_name(self, key: str, name: str) -> str:
        """Every name set through the ORM is stored normalised, with its key beside it; set-based
        inserts (the demo seed) compute both with the same two functions."""
        normalized = normalize_tag_name(name)
        self.name_key = tag_name_key(normalized)
        return normalized

    @hybrid_property
    def display_name(self) -> str:
        """The tag in one line of text (``str(tag)``), in Python and in SQL (the export's ``COPY``)."""
        return self.name

    def __str__(self) -> str:
        return self.display_name

    def __repr__(self) -> str:
        return f"<Tag {self.id} {self.name}>"
