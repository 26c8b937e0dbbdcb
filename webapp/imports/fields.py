"""From a cell to a stored value, and back to what a person reads, one class per kind of column.

Each field reads what the export writes for it (``webapp/admin/listing/display.py``'s export
formatters: labels for enums, ``yes``/``no``, dates with seconds and the zone's abbreviation, tags
joined by commas (a name holding one in double quotes), a quote in front of text that would start
like a formula) and also what people type (an enum's value, ``true``, an ISO date). A value is kept
in its *stored* form between the preview and the apply (plain JSON: ids, enum values, ISO
timestamps in UTC, tag names), so that the preview's plan can wait in the database for the apply
and the undo.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from webapp.extensions import db
from webapp.formatting import joined_names, split_names, unguarded
from webapp.models import Tag, User
from webapp.models.enums import LabelledEnum
from webapp.models.tags import COLOR_PATTERN, normalize_tag_name, tag_name_key

FIRST_YEAR, LAST_YEAR = 2000, 2100


class CellError(ValueError):
    """The cell cannot be this field's value; the message says what is expected."""


def cell_text(cell: Any) -> str:
    """The cell as text: sheets give numbers and booleans, CSV only text."""
    if cell.__class__ is str:
        return unguarded(cell) if cell[:1] == "'" else cell
    if isinstance(cell, bool):
        return "yes" if cell else "no"
    return unguarded(cell) if isinstance(cell, str) else str(cell)


def is_empty(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


class Memo(dict[Any, Any]):
    """What a pure conversion gave for the values met lately, to give it again without converting:
    a column's cells repeat (an owner, a status, a due date), and reading a date costs some
    fifteen microseconds where a lookup costs a tenth of one. Bounded: emptied when full, so a
    column of all-different cells costs a lookup each and a few hundred kilobytes. A dict itself:
    its ``get`` is the C one."""

    SIZE = 4096

    def keep(self, key: Any, value: Any) -> Any:
        if len(self) >= self.SIZE:
            self.clear()
        self[key] = value
        return value


class Field:
    """A column's conversions. ``parse`` takes a non-empty cell and returns the stored form;
    ``stored`` turns a value read from the model into it; ``value`` turns it into what the
    model's column takes; ``shown`` into what a person reads (preview, audit trail)."""

    # Whether an empty cell empties the field (else it keeps the record's value, or is refused),
    # and to what: ``empty``, None but for a text that is NOT NULL (a post's content), emptied to "".
    nullable: bool = True
    empty: Any = None
    # Whether the same cells come again and again down a column (an owner, a status, a date):
    # the planner then remembers what each was read as (``Memo``), parsing it once.
    repeats: ClassVar[bool] = False

    def parse(self, cell: Any) -> Any:
        raise NotImplementedError

    def stored(self, value: Any) -> Any:
        return value

    def value(self, stored: Any) -> Any:
        return stored

    def shown(self, stored: Any) -> Any:
        return stored

    def prepare(self, stored_values: Collection[Any]) -> None:
        """Load in one go what :meth:`shown` needs for these values (a lookup's names)."""

    def compared(self, stored: Any) -> Any:
        """What the preview's comparison table holds for a stored value (see
        ``planning.Comparison``): what the model's column takes."""
        return self.value(stored)

    def differs(self, given: ColumnElement[Any], current: ColumnElement[Any]) -> ColumnElement[bool]:
        """Whether the file's value (the comparison table's column) changes the record's, in SQL."""
        return given.is_distinct_from(current)

    def read_back(
        self, given: ColumnElement[Any], current: ColumnElement[Any], differs: ColumnElement[bool]
    ) -> ColumnElement[bool]:
        """When the comparison reads the record's value: when the file's changes it (``differs``),
        and, for a field the file may give coarser than the record keeps it (a moment to the
        second), also when it is the same without being equal to the letter: the row then writes
        the record's own value back, which changes nothing."""
        return differs


@dataclass
class Text(Field):
    max_length: int | None = None
    nullable: bool = True
    strip: bool = False
    empty: str | None = None

    def differs(self, given: ColumnElement[Any], current: ColumnElement[Any]) -> ColumnElement[bool]:
        """An empty cell is both an empty text and none (the export writes both as nothing)."""
        return func.nullif(given, "").is_distinct_from(func.nullif(current, ""))

    def parse(self, cell: Any) -> str:
        text = cell_text(cell)
        text = text.strip() if self.strip else text
        if self.max_length is not None and len(text) > self.max_length:
            raise CellError(f"Use at most {self.max_length:,} characters (this has {len(text):,}).")
        return text


USERNAME = re.compile(r"^[\w.@+-]+$")


@dataclass
class Email(Text):
    max_length: int | None = 254
    nullable: bool = False
    strip: bool = True

    def parse(self, cell: Any) -> str:
        text = super().parse(cell)
        try:
            validate_email(text, check_deliverability=False)
        except EmailNotValidError:
            raise CellError("Enter an email address like name@example.org.") from None
        return text


@dataclass
class Username(Text):
    max_length: int | None = 150
    nullable: bool = False
    strip: bool = True

    def parse(self, cell: Any) -> str:
        text = super().parse(cell)
        if not USERNAME.match(text):
            raise CellError("Use letters, digits and . @ + - _ only.")
        return text


@dataclass
class TagName(Text):
    max_length: int | None = 50
    nullable: bool = False

    def parse(self, cell: Any) -> str:
        name = normalize_tag_name(cell_text(cell))
        if not name:
            raise CellError("A tag needs a name with at least one visible character.")
        return super().parse(name)


class Colour(Field):
    nullable = False
    repeats = True
    pattern = re.compile(COLOR_PATTERN)

    def parse(self, cell: Any) -> str:
        text = cell_text(cell).strip()
        if not self.pattern.match(text):
            raise CellError("Enter a colour as #RRGGBB, for example #17a2b8.")
        return text


class Boolean(Field):
    nullable = False
    repeats = True
    words: ClassVar[dict[str, bool]] = {
        word: meaning
        for meaning, spelled in ((True, ("yes", "y", "true", "1")), (False, ("no", "n", "false", "0")))
        for word in spelled
    }

    def parse(self, cell: Any) -> bool:
        if isinstance(cell, bool):
            return cell
        try:
            return self.words[cell_text(cell).strip().lower()]
        except KeyError:
            raise CellError("Enter yes or no.") from None

    def shown(self, stored: Any) -> Any:
        return "yes" if stored else "no"


@dataclass
class Choice(Field):
    """An enum, by its label (``In progress``, what the export writes) or its value."""

    enum: type[LabelledEnum]
    nullable: bool = False
    repeats: ClassVar[bool] = True
    # Each member's value and label, in lower case, and each value's label: one lookup per cell
    # of a long file, not a walk through the enum.
    spellings: dict[str, str] = field(init=False, repr=False)
    labels: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.spellings = {}
        for member in self.enum:
            for spelling in (member.value, member.label.lower()):
                self.spellings.setdefault(spelling, member.value)
        self.labels = {member.value: member.label for member in self.enum}

    def parse(self, cell: Any) -> str:
        try:
            return self.spellings[cell_text(cell).strip().lower()]
        except KeyError:
            labels = ", ".join(member.label for member in self.enum)
            raise CellError(f"Choose one of {labels}.") from None

    def stored(self, value: Any) -> Any:
        if value is None or value in self.labels:  # a member is equal to its value: both are str
            return None if value is None else str(value)
        return self.enum(value).value

    def value(self, stored: Any) -> Any:
        return self.enum(stored)

    def compared(self, stored: Any) -> Any:
        """The value's text: the column is text (a CHECK constraint guards it), and the comparison
        reads it as text, so no cell becomes a member and back."""
        return stored

    def shown(self, stored: Any) -> Any:
        try:
            return self.labels[stored]
        except KeyError:
            return self.enum(stored).label


DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


@dataclass
class Moment(Field):
    """A timestamp typed in the display time zone: ``2026-03-01 09:30:00 CET`` (the export), or
    without seconds, without a time, in ISO form (with an offset, which then counts), or a date
    cell of a sheet. Stored as ISO text in UTC."""

    timezone: str = "UTC"
    zone: zoneinfo.ZoneInfo = field(init=False, repr=False)
    repeats: ClassVar[bool] = True
    # Each conversion by the value met.
    shown_forms: Memo = field(init=False, repr=False, default_factory=Memo)
    moments: Memo = field(init=False, repr=False, default_factory=Memo)
    stored_forms: Memo = field(init=False, repr=False, default_factory=Memo)

    def __post_init__(self) -> None:
        self.zone = zoneinfo.ZoneInfo(self.timezone)

    def parse(self, cell: Any) -> str:
        moment = self._read(cell)
        stored = moment.astimezone(UTC)
        local = moment if moment.tzinfo is self.zone else stored.astimezone(self.zone)
        if not FIRST_YEAR <= local.year <= LAST_YEAR:
            raise CellError(f"Enter a date between {FIRST_YEAR} and {LAST_YEAR}.")
        return stored.isoformat()

    def _read(self, cell: Any) -> datetime:
        if isinstance(cell, datetime):
            return cell if cell.tzinfo else cell.replace(tzinfo=self.zone)
        text = cell_text(cell).strip()
        abbreviation = None
        if ZONED.fullmatch(text):
            text, abbreviation = text.rsplit(" ", 1)
        moment = self._parsed(text)
        if moment.tzinfo is not None:
            return moment
        return self._localized(moment, abbreviation)

    @staticmethod
    def _parsed(text: str) -> datetime:
        try:
            return datetime.fromisoformat(text)  # the common forms, in C
        except ValueError:
            pass
        for pattern in DATE_FORMATS:
            try:
                return datetime.strptime(text, pattern)
            except ValueError:
                continue
        raise CellError("Enter a date like 2026-03-01 or 2026-03-01 09:30.")

    def _localized(self, moment: datetime, abbreviation: str | None) -> datetime:
        """The moment of a wall-clock time in the zone; the abbreviation picks between the two
        moments of an hour repeated when clocks go back, and must be the zone's."""
        zone = self.zone
        local = moment.replace(tzinfo=zone)
        if abbreviation is not None and local.tzname() != abbreviation:
            local = moment.replace(tzinfo=zone, fold=1)
            if local.tzname() != abbreviation:
                raise CellError(
                    f"The zone “{abbreviation}” is not {self.timezone}'s at that time; dates are read there."
                )
        back = local.astimezone(UTC).astimezone(zone)
        # A wall-clock time the clocks skip comes back as another one. Compared field by field:
        # a naive copy of ``back`` costs more than the rest of the cell's reading.
        if (back.day, back.hour, back.minute, back.second) != (moment.day, moment.hour, moment.minute, moment.second):
            raise CellError(f"{moment:%Y-%m-%d %H:%M} does not exist in {self.timezone} (the clocks skip it).")
        return local

    def differs(self, given: ColumnElement[Any], current: ColumnElement[Any]) -> ColumnElement[bool]:
        """A moment given to the second (as the export writes it, or typed without seconds) is the
        record's when in the same second, whatever the record's fraction (``utcnow()`` keeps
        microseconds); one given with a fraction is compared exactly. A moment without a fraction
        is never equal to one with a fraction: it differs from the record's when it differs both
        from it and from it cut to the second."""
        return and_(given.is_distinct_from(current), given.is_distinct_from(WholeSecond(current)))

    def read_back(
        self, given: ColumnElement[Any], current: ColumnElement[Any], differs: ColumnElement[bool]
    ) -> ColumnElement[bool]:
        """Whenever the record's moment is not the file's to the microsecond: an unchanged one is
        then written back with its fraction, not cut to the second."""
        return given.is_distinct_from(current)

    def stored(self, value: Any) -> Any:
        if value is None:
            return None
        return self.stored_forms.get(value) or self.stored_forms.keep(value, value.astimezone(UTC).isoformat())

    def value(self, stored: Any) -> Any:
        if stored is None:
            return None
        return self.moments.get(stored) or self.moments.keep(stored, datetime.fromisoformat(stored))

    def shown(self, stored: Any) -> Any:
        if stored is None:
            return None
        return self.shown_forms.get(stored) or self.shown_forms.keep(stored, self._shown(stored))

    def _shown(self, stored: str) -> str:
        moment = datetime.fromisoformat(stored).astimezone(self.zone)
        # As the export writes it; isoformat rather than strftime, which costs ten times more.
        return f"{moment.isoformat(sep=' ', timespec='seconds')[:19]} {moment.tzname()}"


class WholeSecond(FunctionElement[datetime]):
    """A timestamp column's value cut to the second, in the column's own form: PostgreSQL's
    ``date_trunc``; on SQLite, which keeps timestamps as text (``2026-03-01 09:30:00.123456``), the
    text up to the seconds with a zero fraction, as SQLAlchemy writes a whole second there."""

    name = "whole_second"
    inherit_cache = True

    def __init__(self, moment: ColumnElement[Any]) -> None:
        super().__init__(moment)
        self.type = moment.type


@compiles(WholeSecond)
def _whole_second(element: WholeSecond, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date_trunc('second', {compiler.process(element.clauses, **kw)})"


@compiles(WholeSecond, "sqlite")
def _whole_second_sqlite(element: WholeSecond, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(substr({compiler.process(element.clauses, **kw)}, 1, 19) || '.000000')"


# A time followed by a zone's abbreviation, as the export writes it (``09:30:00 CET``).
ZONED = re.compile(r".+:\d\d [A-Za-z][A-Za-z0-9+-]{0,9}")


class Lookup(Field):
    """A field whose cells name rows of another table: the planner collects the names of a batch
    of rows and resolves them with one :meth:`resolve` (a statement or two, not one per row)."""

    def resolve(self, names: Collection[Any], create_missing: bool) -> Mapping[Any, Any]:
        """The stored value for each name, or a :class:`CellError` for a name that resolves to none."""
        raise NotImplementedError


PERSON = re.compile(r"^.*<([^<>]+)>\s*$")


class Person(Lookup):
    """A task's owner or a post's author: by email or username (any letter case), or as the
    export writes it, ``Full Name <email>``. Stored as the user's id; shown as the email (as the
    user has it), the new user's as the old one's: :meth:`prepare` reads the old ones of a chunk
    in one statement."""

    nullable = False
    repeats = True

    def __init__(self) -> None:
        self.emails: dict[int, str] = {}

    def parse(self, cell: Any) -> str:
        text = cell_text(cell).strip()
        match = PERSON.match(text)
        return (match.group(1) if match else text).strip().lower()

    def resolve(self, names: Collection[Any], create_missing: bool) -> Mapping[Any, Any]:
        found: dict[Any, Any] = {}
        for chunk in _chunks(sorted(names), 1000):
            rows = db.session.execute(
                select(User.id, User.email, func.lower(User.email), func.lower(User.username), User.deleted_at).where(
                    or_(func.lower(User.email).in_(chunk), func.lower(User.username).in_(chunk))
                )
            )
            for user_id, shown, email, username, deleted_at in rows:
                self.emails[user_id] = shown
                outcome: Any = user_id if deleted_at is None else CellError("That user is in the trash.")
                for key in (email, username):
                    if key in names and not isinstance(found.get(key), int):
                        found[key] = outcome
        return {name: found.get(name, CellError("No user has this email or username.")) for name in names}

    def prepare(self, stored_values: Collection[Any]) -> None:
        missing = sorted({value for value in stored_values if value is not None} - self.emails.keys())
        for chunk in _chunks(missing, 1000):
            self.emails.update(db.session.execute(select(User.id, User.email).where(User.id.in_(chunk))).all())

    def shown(self, stored: Any) -> Any:
        return None if stored is None else self.emails.get(stored, f"user {stored}")


class Tags(Lookup):
    """Tag names separated by commas, a name holding a comma (or a double quote) in double quotes
    as the export writes it (``"a, b", c``: ``webapp.formatting.joined_names``). Stored as the
    sorted list of the tags' names; unknown names are refused, or created at the apply when the
    operator asks for it."""

    nullable = True
    repeats = True

    def parse(self, cell: Any) -> tuple[str, ...]:
        names: dict[str, str] = {}
        for part in split_names(cell_text(cell)):
            name = normalize_tag_name(part)
            if name:
                if len(name) > 50:
                    raise CellError(f"The tag name “{name[:20]}…” is longer than 50 characters.")
                names.setdefault(tag_name_key(name), name)
        return tuple(sorted(names.values()))

    def resolve(self, names: Collection[Any], create_missing: bool) -> Mapping[Any, Any]:
        wanted = {tag_name_key(name): name for names_of_row in names for name in names_of_row}
        existing: dict[str, str] = {}
        trashed: set[str] = set()
        for chunk in _chunks(sorted(wanted), 1000):
            rows = db.session.execute(select(Tag.name_key, Tag.name, Tag.deleted_at).where(Tag.name_key.in_(chunk)))
            for key, name, deleted_at in rows:
                if deleted_at is None:
                    existing[key] = name
                else:
                    trashed.add(key)
        resolved: dict[Any, Any] = {}
        for names_of_row in names:
            in_trash = [name for name in names_of_row if tag_name_key(name) in trashed]
            if in_trash:
                listed = ", ".join(f"“{name}”" for name in in_trash)
                resolved[names_of_row] = CellError(f"The tag {listed} is in the trash; restore it first.")
                continue
            unknown = [name for name in names_of_row if tag_name_key(name) not in existing]
            if unknown and not create_missing:
                listed = ", ".join(f"“{name}”" for name in unknown)
                resolved[names_of_row] = CellError(
                    f"No tag is named {listed}; create it first, or tick “create missing tags”."
                )
            else:
                resolved[names_of_row] = sorted(existing.get(tag_name_key(name), name) for name in names_of_row)
        return resolved

    def stored(self, value: Any) -> Any:
        return sorted(tag.name for tag in value)

    def shown(self, stored: Any) -> Any:
        return joined_names(stored or ())


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
