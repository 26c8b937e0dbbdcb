"""Tamper evidence for the audit trail: a hash per entry, a link per transaction, a few chains.

Design (issue 16). Each entry stores ``entry_hash`` = sha256 of its canonical content (below).
Each transaction that writes entries appends one *link* to one of :data:`CHAINS` chains, at
commit: ``link_hash`` = sha256(the chain's previous ``link_hash`` ‖ ``entries_digest``), where
``entries_digest`` = sha256(the transaction's entry hashes in id order). One link per entry would
serialise every write and be sequential work in a set-based ``INSERT … SELECT``; a link per
transaction costs one aggregate and one row lock at commit. The head row is locked ``FOR UPDATE
SKIP LOCKED`` only inside the commit itself, so concurrent writers take different chains and
never wait for each other while they work; each transaction locks one head only, last, so no
deadlock can involve two heads.

Canonical content: the text PostgreSQL gives ``jsonb_build_array(id, created_at in microseconds
since 1970, operator_id, operator_email, action, model, object_id, summary, changes, remote_addr,
batch_id, link_id)``, as UTF-8. Set-based inserts compute it in SQL with ``sha256()``; rows built
in Python (the ORM's single entries, an import's COPY, everything on SQLite) compute the same bytes
with :func:`canonical_text`, which writes jsonb's text form (keys ordered by length then bytes,
``", "`` and ``": "`` separators, numbers as ``numeric`` prints them).

Pruning (:func:`prune_batch`) removes whole links, oldest first along each chain; a link that
holds the latest entry of a record still alive keeps that entry and is *sealed* (``kept_digest``
and an HMAC over ``SECRET_KEY``), and each chain's *checkpoint* (the position and hash of the last
pruned link, signed) is where :func:`verify` starts walking it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from itertools import groupby
from typing import Any

from sqlalchemy import (
    BigInteger,
    LargeBinary,
    Select,
    Table,
    Text,
    and_,
    cast,
    delete,
    event,
    extract,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement

from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import AuditAction, AuditChain, AuditEntry, AuditLink, AuditVerification

# Few enough that verify walks them quickly, enough that concurrent commits rarely all collide.
CHAINS = 8
GENESIS = bytes(32)
# What a writer gives an entry; the chain adds its id, time and link (CONTENT_COLUMNS).
ENTRY_COLUMNS = (
    "operator_id",
    "operator_email",
    "action",
    "model",
    "object_id",
    "summary",
    "changes",
    "remote_addr",
    "batch_id",
)
CONTENT_COLUMNS = ("id", "created_at", *ENTRY_COLUMNS, "link_id")
_CREATED_AT, _ACTION, _CHANGES = (CONTENT_COLUMNS.index(name) for name in ("created_at", "action", "changes"))
# One encoder: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))
_STATE = "audit_chain"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# What a record's last entry says when the record is gone for good: pruning may remove it.
_FINAL_ACTIONS = (AuditAction.PURGE.value,)


# --- The canonical form -------------------------------------------------------------------------


def canonical_text(value: Any) -> str:
    """``value`` as PostgreSQL writes the jsonb it makes of it (``jsonb_build_array(…)::text``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return canonical_text(value.value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # jsonb keeps the digits it was given as a numeric, which never prints an exponent.
        return format(Decimal(repr(value + 0.0)), "f")
    if isinstance(value, datetime):
        return str((value - _EPOCH) // _MICROSECOND)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        keys = sorted(value, key=_jsonb_key)
        return "{" + ", ".join(f"{canonical_text(key)}: {canonical_text(value[key])}" for key in keys) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(canonical_text(item) for item in value) + "]"
    raise TypeError(f"no canonical form for {type(value).__name__}")


class _Exotic(Exception):
    """A float that jsonb prints otherwise than ``json`` does (an exponent, a negative zero)."""


def _jsonb_key(key: str) -> tuple[int, bytes]:
    """jsonb orders an object's keys by their length in bytes, then by their bytes."""
    encoded = key.encode()
    return len(encoded), encoded


# Values ``json`` writes as jsonb does, whatever they hold; the rest is looked into.
_PLAIN = frozenset({str, int, bool, type(None)})


def _jsonb_ordered(value: Any) -> Any:
    """``value`` with its objects' keys in jsonb's order, ready for ``json``'s C encoder.

    An import's changes are an object of ``[old, new]`` pairs of plain values: those are passed
    by their type alone, without a call each (a hundred thousand entries hash in one apply)."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dict):
        return {key: _jsonb_ordered(value[key]) for key in sorted(value, key=_jsonb_key)}
    if isinstance(value, (list, tuple)):
        return [item if type(item) in _PLAIN else _jsonb_ordered(item) for item in value]
    if isinstance(value, float) and ("e" in repr(value) or not math.isfinite(value) or repr(value) == "-0.0"):
        raise _Exotic
    return value


def entry_hash(values: Sequence[Any]) -> bytes:
    """sha256 of an entry's content, ``values`` in :data:`CONTENT_COLUMNS`' order.

    ``json``'s C encoder writes jsonb's text once keys are in jsonb's order (same separators, same
    escapes); :func:`canonical_text`, the reference, is only needed for exotic floats. An import
    hashes a hundred thousand entries: the encoder is several times faster."""
    row = list(values)
    row[_CREATED_AT] = (row[_CREATED_AT] - _EPOCH) // _MICROSECOND
    row[_ACTION] = getattr(row[_ACTION], "value", row[_ACTION])
    try:
        row[_CHANGES] = _jsonb_ordered(row[_CHANGES])  # the only part that may hold objects
        text = _ENCODER.encode(row)
    except _Exotic:
        text = canonical_text(row)
    return hashlib.sha256(text.encode()).digest()


def stored_entry_hash(entry: AuditEntry) -> bytes:
    return entry_hash([getattr(entry, name) for name in CONTENT_COLUMNS])


def hash_expression(columns: Mapping[str, ColumnElement[Any]]) -> ColumnElement[bytes]:
    """The same hash in PostgreSQL's SQL, over ``columns`` (named as :data:`CONTENT_COLUMNS`)."""
    parts = [
        cast(extract("epoch", column) * 1_000_000, BigInteger) if name == "created_at" else column
        for name, column in ((name, columns[name]) for name in CONTENT_COLUMNS)
    ]
    return func.sha256(func.convert_to(cast(func.jsonb_build_array(*parts), Text), "UTF8"))


def link_hash(previous: bytes, entries_digest: bytes) -> bytes:
    return hashlib.sha256(previous + entries_digest).digest()


def _sign(secret: str, *parts: Any) -> bytes:
    message = b"|".join(part if isinstance(part, bytes) else str(part).encode() for part in parts)
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def _digest(hashes: Iterable[bytes]) -> bytes:
    digest = hashlib.sha256()
    for value in hashes:
        digest.update(value)
    return digest.digest()


# --- Writing: ids, the transaction's link, the commit ------------------------------------------


@dataclass
class _Transaction:
    """What the current transaction's entries share: its link and its time."""

    link_id: int
    created_at: datetime
    chain: int  # the chain it prefers: its connection's, so concurrent writers rarely meet
    next_id: int | None = None  # SQLite: the next entry id (the transaction holds the write lock)


def _is_postgres(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


def _transaction(session: Session) -> _Transaction:
    state: _Transaction | None = session.info.get(_STATE)
    if state is not None:
        return state
    if _is_postgres(session):
        first = select(func.nextval("audit_links_id_seq"), func.now(), func.pg_backend_pid() % CHAINS)
        state = _Transaction(*session.execute(first).one())
    else:
        # SQLite: a first write takes the database's write lock, so the max ids stay ours.
        session.execute(update(AuditChain).values(position=AuditChain.position))
        last_link = session.scalar(select(func.max(AuditLink.id))) or 0
        last_entry = session.scalar(select(func.max(AuditEntry.id))) or 0
        state = _Transaction(last_link + 1, utcnow(), 0, last_entry + 1)
    session.info[_STATE] = state
    return state


def allocate(count: int) -> tuple[list[int], _Transaction]:
    """``count`` new entry ids, ascending, and the transaction's link and time."""
    session = db.session()
    # Without autoflush: a form's change is flushed where Flask-Admin expects it, not here.
    with session.no_autoflush:
        state = _transaction(session)
        if state.next_id is None:
            numbers = func.generate_series(1, count)
            ids = session.scalars(select(func.nextval("audit_entries_id_seq")).select_from(numbers))
            return sorted(ids), state
    first, state.next_id = state.next_id, state.next_id + count
    return list(range(first, first + count)), state


def stamp(entry: AuditEntry) -> None:
    """Give an entry built in Python its id, time, link and hash."""
    (entry.id,), state = allocate(1)
    entry.created_at, entry.link_id = state.created_at, state.link_id
    entry.entry_hash = stored_entry_hash(entry)


def stamped_rows(
    columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """``rows`` (values in ``columns``' order) with their id, time, link and hash added."""
    ids, state = allocate(len(rows))
    positions = [columns.index(name) for name in ENTRY_COLUMNS]
    stamped = []
    for entry_id, row in zip(ids, rows, strict=True):
        values = [entry_id, state.created_at, *[row[position] for position in positions], state.link_id]
        stamped.append((*values, entry_hash(values)))
    return (*CONTENT_COLUMNS, "entry_hash"), stamped


def insert_from_select(table: Table, columns: Sequence[str], rows: Select[Any, *tuple[Any, ...]]) -> int:
    """``INSERT INTO table (columns) <rows>``, each row stamped like :func:`stamped_rows`; how many.

    On PostgreSQL one statement: ids from the sequence in a subquery (volatile, so evaluated
    once per row) and the hash in SQL. On SQLite the rows are read and written from Python."""
    session = db.session()
    state = _transaction(session)
    if state.next_id is not None:
        found = [tuple(row) for row in session.execute(rows)]
        if found:
            names, stamped = stamped_rows(columns, found)
            session.execute(insert(table), [dict(zip(names, row, strict=True)) for row in stamped])
        return len(found)
    typed = [
        cast(column, table.c[name].type).label(name)
        for column, name in zip(rows.selected_columns, columns, strict=True)
    ]
    source = rows.with_only_columns(
        func.nextval("audit_entries_id_seq").label("id"),
        literal(state.created_at, table.c.created_at.type).label("created_at"),
        literal(state.link_id, BigInteger).label("link_id"),
        *typed,
    ).subquery()
    content = {name: source.c[name] for name in CONTENT_COLUMNS}
    statement = insert(table).from_select(
        [*CONTENT_COLUMNS, "entry_hash"], select(*content.values(), hash_expression(content))
    )
    return session.execute(statement).rowcount  # type: ignore[attr-defined]


def _link_entries(session: Session, link_id: int) -> tuple[int, int, int, bytes]:
    """How many entries the link holds, its first and last id, and their digest."""
    where = AuditEntry.link_id == link_id
    if _is_postgres(session):
        count, first, last, digest = session.execute(
            select(func.count(), func.min(AuditEntry.id), func.max(AuditEntry.id), _sql_digest()).where(where)
        ).one()
        return count, first or 0, last or 0, bytes(digest or b"")
    rows = session.execute(select(AuditEntry.id, AuditEntry.entry_hash).where(where).order_by(AuditEntry.id)).all()
    if not rows:
        return 0, 0, 0, b""
    return len(rows), rows[0][0], rows[-1][0], _digest(row[1] or b"" for row in rows)


def _sql_digest() -> ColumnElement[bytes]:
    """PostgreSQL's :func:`_digest` of the entry hashes it aggregates, in id order."""
    ordered = postgresql.aggregate_order_by(literal(b"", LargeBinary), AuditEntry.id)
    return func.sha256(func.string_agg(AuditEntry.entry_hash, ordered))


def _ensure_chains(session: Session) -> None:
    dialect = postgresql if _is_postgres(session) else sqlite
    values = [
        {"chain": chain, "position": 0, "link_hash": GENESIS, "checkpoint_position": 0, "checkpoint_hash": GENESIS}
        for chain in range(CHAINS)
    ]
    session.execute(dialect.insert(AuditChain).values(values).on_conflict_do_nothing())


def _lock_chain(session: Session, preferred: int) -> AuditChain:
    """A free chain's head, locked; the preferred one, waited for, when all are taken."""
    heads = select(AuditChain).execution_options(populate_existing=True)
    order = (AuditChain.chain + (CHAINS - preferred)) % CHAINS
    head = session.scalars(heads.order_by(order).limit(1).with_for_update(skip_locked=True)).first()
    if head is None:
        _ensure_chains(session)
        head = session.scalars(heads.where(AuditChain.chain == preferred).with_for_update()).one()
    return head


def _append_link(session: Session) -> None:
    """At commit: the transaction's link, on a chain whose head this transaction locks last."""
    state: _Transaction | None = session.info.get(_STATE)
    if state is None or session.in_nested_transaction():
        return
    session.flush()
    count, first, last, digest = _link_entries(session, state.link_id)
    if not count:  # every entry was rolled back with a savepoint
        return
    head = _lock_chain(session, state.chain)
    head.position += 1
    head.link_hash = link_hash(head.link_hash, digest)
    session.add(
        AuditLink(
            id=state.link_id,
            chain=head.chain,
            position=head.position,
            created_at=state.created_at,
            entry_count=count,
            first_entry_id=first,
            last_entry_id=last,
            entries_digest=digest,
            link_hash=head.link_hash,
        )
    )
    session.flush()


def _forget_transaction(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_STATE, None)


def register_audit_chain() -> None:
    """Append each transaction's link at its commit (every session of the process)."""
    if not event.contains(Session, "before_commit", _append_link):
        event.listen(Session, "before_commit", _append_link)
        event.listen(Session, "after_transaction_end", _forget_transaction)


# --- Verifying ----------------------------------------------------------------------------------

# Enough to say what happened without reading millions of rows back when everything was edited.
MAX_MISMATCHES = 100


@dataclass(frozen=True)
class Mismatch:
    """One thing that does not match, and the entry it is found at (None: no entry to name)."""

    entry_id: int | None
    message: str


@dataclass
class Verification:
    """What :func:`verify` found."""

    mismatches: list[Mismatch] = field(default_factory=list)
    verified_up_to: int | None = None
    links: int = 0
    legacy_entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def first(self) -> Mismatch:
        """The mismatch at the lowest entry id (the one to investigate first)."""
        return min(self.mismatches, key=lambda m: (m.entry_id is None, m.entry_id or 0))

    def add(self, entry_id: int | None, message: str) -> None:
        if len(self.mismatches) < MAX_MISMATCHES:
            self.mismatches.append(Mismatch(entry_id, message))


@dataclass(frozen=True)
class _Entries:
    """A link's entries as found: how many, first and last id, the digest of their hashes."""

    link_id: int
    count: int
    first: int
    last: int
    digest: bytes


_LEGACY = and_(AuditEntry.entry_hash.is_(None), AuditEntry.link_id.is_(None))


def verify(secret: str) -> Verification:
    """Recompute every entry's hash, every link's digest and every chain; report what differs."""
    session = db.session()
    report = Verification()
    report.legacy_entries = session.scalar(select(func.count()).where(_LEGACY)) or 0
    _check_contents(session, report)
    _check_links(session, report, secret)
    _check_chains(session, report, secret)
    return report


def _check_contents(session: Session, report: Verification) -> None:
    if _is_postgres(session):
        content = {name: getattr(AuditEntry, name) for name in CONTENT_COLUMNS}
        changed: Iterable[int] = session.scalars(
            select(AuditEntry.id)
            .where(~_LEGACY, AuditEntry.entry_hash.is_distinct_from(hash_expression(content)))
            .order_by(AuditEntry.id)
            .limit(MAX_MISMATCHES)
        )
    else:
        entries = session.scalars(select(AuditEntry).where(~_LEGACY).order_by(AuditEntry.id)).yield_per(1000)
        changed = (entry.id for entry in entries if entry.entry_hash != stored_entry_hash(entry))
    for entry_id in changed:
        report.add(
            entry_id, f"entry {entry_id} was changed after it was written (its content no longer matches its hash)"
        )
    unlinked = session.scalars(
        select(AuditEntry.id)
        .where(AuditEntry.link_id.is_(None), ~_LEGACY)
        .order_by(AuditEntry.id)
        .limit(MAX_MISMATCHES)
    )
    for entry_id in unlinked:
        report.add(entry_id, f"entry {entry_id} belongs to no link: it was inserted afterwards")


def _found_entries(session: Session) -> Iterator[_Entries]:
    """Every link's entries as found, by link id."""
    linked = AuditEntry.link_id.is_not(None)
    if _is_postgres(session):
        rows = session.execute(
            select(AuditEntry.link_id, func.count(), func.min(AuditEntry.id), func.max(AuditEntry.id), _sql_digest())
            .where(linked)
            .group_by(AuditEntry.link_id)
            .order_by(AuditEntry.link_id)
            .execution_options(yield_per=10_000)
        )
        for link_id, count, first, last, digest in rows:
            yield _Entries(link_id or 0, count, first, last, bytes(digest or b""))
        return
    ordered = session.execute(
        select(AuditEntry.link_id, AuditEntry.id, AuditEntry.entry_hash)
        .where(linked)
        .order_by(AuditEntry.link_id, AuditEntry.id)
    )
    for link_id, group in groupby(ordered, key=lambda row: row[0]):
        found = list(group)
        yield _Entries(link_id or 0, len(found), found[0][1], found[-1][1], _digest(row[2] or b"" for row in found))


def _check_links(session: Session, report: Verification, secret: str) -> None:
    """Match each link with the entries that name it (a merge of two streams ordered by link)."""
    links = iter(session.scalars(select(AuditLink).order_by(AuditLink.id)).yield_per(10_000))
    link = next(links, None)
    for found in _found_entries(session):
        while link is not None and link.id < found.link_id:
            report.add(
                link.first_entry_id,
                f"entries {link.first_entry_id}–{link.last_entry_id} of link {link.id} were deleted",
            )
            link = next(links, None)
        if link is None or link.id != found.link_id:
            report.add(
                found.first,
                f"entry {found.first} names link {found.link_id}, which does not exist: it was inserted afterwards",
            )
            continue
        _compare(session, report, secret, link, found)
        link = next(links, None)
    while link is not None:
        report.add(
            link.first_entry_id, f"entries {link.first_entry_id}–{link.last_entry_id} of link {link.id} were deleted"
        )
        link = next(links, None)


def _compare(session: Session, report: Verification, secret: str, link: AuditLink, found: _Entries) -> None:
    report.verified_up_to = max(report.verified_up_to or 0, link.last_entry_id)
    if link.pruned_at is not None:
        if link.seal != _seal(secret, link.id, link.entries_digest, found.digest, found.count):
            report.add(
                found.first,
                f"the entries pruning kept of link {link.id} (from entry {found.first}) were changed, "
                "or its seal does not hold",
            )
        return
    if (found.count, found.first, found.last, found.digest) == (
        link.entry_count,
        link.first_entry_id,
        link.last_entry_id,
        link.entries_digest,
    ):
        return
    if found.first < link.first_entry_id or found.last > link.last_entry_id:
        outlier = found.first if found.first < link.first_entry_id else found.last
        report.add(outlier, f"entry {outlier} was inserted into link {link.id} afterwards")
    elif found.count < link.entry_count:
        missing = _first_missing(session, link)
        report.add(missing, f"entry {missing} of link {link.id} was deleted")
    else:
        report.add(
            link.first_entry_id,
            f"the entries of link {link.id} ({link.first_entry_id}–{link.last_entry_id}) were changed, "
            "rehashed or reordered",
        )


def _first_missing(session: Session, link: AuditLink) -> int:
    present = set(
        session.scalars(select(AuditEntry.id).where(AuditEntry.id.between(link.first_entry_id, link.last_entry_id)))
    )
    return next(
        (i for i in range(link.first_entry_id, link.last_entry_id + 1) if i not in present), link.first_entry_id
    )


def _check_chains(session: Session, report: Verification, secret: str) -> None:
    heads = {head.chain: head for head in session.scalars(select(AuditChain))}
    for chain in sorted(heads.keys() | set(session.scalars(select(AuditLink.chain).distinct()))):
        head = heads.get(chain)
        if head is None:
            report.add(None, f"the head of chain {chain} was deleted")
            continue
        if head.checkpoint_position and head.checkpoint_signature != _checkpoint_signature(secret, head):
            report.add(None, f"the checkpoint of chain {chain} is not signed with this SECRET_KEY")
        _walk(session, report, head)


def _walk(session: Session, report: Verification, head: AuditChain) -> None:
    previous, position = head.checkpoint_hash, head.checkpoint_position
    links = session.scalars(
        select(AuditLink).where(AuditLink.chain == head.chain).order_by(AuditLink.position)
    ).yield_per(10_000)
    for link in links:
        report.links += 1
        if link.position <= head.checkpoint_position:
            if link.pruned_at is None:
                report.add(link.first_entry_id, f"link {link.id} lies behind chain {head.chain}'s checkpoint unpruned")
            continue
        if link.position != position + 1:
            report.add(
                link.first_entry_id,
                f"links {position + 1}–{link.position - 1} of chain {head.chain} "
                f"(before entry {link.first_entry_id}) were deleted",
            )
        elif link.link_hash != link_hash(previous, link.entries_digest):
            report.add(
                link.first_entry_id,
                f"link {link.id} (entries {link.first_entry_id}–{link.last_entry_id}) does not follow "
                f"chain {head.chain}: changed or reordered",
            )
        previous, position = link.link_hash, link.position
    if (head.position, head.link_hash) != (position, previous):
        report.add(
            None,
            f"chain {head.chain} ends at link {position} but its head says {head.position}: "
            "its last links were deleted",
        )


def record_verification(report: Verification) -> AuditVerification:
    """Keep the outcome, for the audit log page; the caller commits."""
    outcome = AuditVerification(finished_at=utcnow(), verified_up_to=report.verified_up_to)
    if not report.ok:
        first = report.first()
        outcome.mismatch_entry_id, outcome.message = first.entry_id, first.message[:500]
    db.session.add(outcome)
    return outcome


def last_verification() -> AuditVerification | None:
    return db.session.scalars(select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1)).first()


# --- Pruning ------------------------------------------------------------------------------------


def _seal(secret: str, link_id: int, entries_digest: bytes, kept_digest: bytes, kept: int) -> bytes:
    return _sign(secret, "link", link_id, entries_digest, kept_digest, kept)


def _checkpoint_signature(secret: str, head: AuditChain) -> bytes:
    return _sign(secret, "checkpoint", head.chain, head.checkpoint_position, head.checkpoint_hash)


def _prunable() -> ColumnElement[bool]:
    """An entry that is not the latest of its record's history, or whose record was purged."""
    newer = aliased(AuditEntry)
    later = or_(
        newer.created_at > AuditEntry.created_at,
        and_(newer.created_at == AuditEntry.created_at, newer.id > AuditEntry.id),
    )
    exists_newer = (
        select(newer.id).where(newer.model == AuditEntry.model, newer.object_id == AuditEntry.object_id, later).exists()
    )
    return or_(AuditEntry.action.in_(_FINAL_ACTIONS), exists_newer)


@dataclass(frozen=True)
class Pruned:
    """What one batch of :func:`prune_batch` did; false when there was nothing left to prune."""

    entries: int
    links: int

    def __bool__(self) -> bool:
        return self.links > 0


def prune_batch(cutoff: datetime, secret: str, limit: int) -> Pruned:
    """Remove the prunable entries of a few links (about ``limit`` entries, each ``DELETE`` at most
    ``limit`` rows): links sealed earlier whose kept entries have since become prunable, else
    the oldest links of one chain written before ``cutoff``. The caller commits: each batch is
    whole, a rerun resumes."""
    session = db.session()
    resealed = _sealed_with_prunable(session, limit)
    if resealed:
        return Pruned(_prune_links(session, resealed, secret, limit), len(resealed))
    for head in session.scalars(select(AuditChain).order_by(AuditChain.chain)):
        if not _oldest_links(session, head, cutoff, limit):
            continue
        # Locked, then read again: a concurrent prune may have moved the checkpoint meanwhile.
        session.refresh(head, with_for_update=True)
        links = _oldest_links(session, head, cutoff, limit)
        if not links:
            return Pruned(0, 1)  # another prune took them: look again
        removed = _prune_links(session, links, secret, limit)
        head.checkpoint_position, head.checkpoint_hash = links[-1].position, links[-1].link_hash
        head.checkpoint_signature = _checkpoint_signature(secret, head)
        session.flush()
        return Pruned(removed, len(links))
    return Pruned(0, 0)


def _sealed_with_prunable(session: Session, limit: int) -> list[AuditLink]:
    ids = select(AuditEntry.link_id).join(AuditLink, AuditLink.id == AuditEntry.link_id)
    ids = ids.where(AuditLink.pruned_at.is_not(None), _prunable()).distinct().limit(limit)
    return list(session.scalars(select(AuditLink).where(AuditLink.id.in_(ids)).order_by(AuditLink.id)))


def _oldest_links(session: Session, head: AuditChain, cutoff: datetime, limit: int) -> list[AuditLink]:
    """The chain's next links in order, while written before ``cutoff`` and within ``limit``
    entries (at least one link, however large)."""
    candidates = session.scalars(
        select(AuditLink)
        .where(AuditLink.chain == head.chain, AuditLink.position > head.checkpoint_position)
        .order_by(AuditLink.position)
        .limit(limit)
    )
    chosen: list[AuditLink] = []
    entries = 0
    for link in candidates:
        if link.created_at >= cutoff or (chosen and entries + link.entry_count > limit):
            break
        chosen.append(link)
        entries += link.entry_count
    return chosen


def _prune_links(session: Session, links: list[AuditLink], secret: str, limit: int) -> int:
    ids = [link.id for link in links]
    removed = 0
    while True:
        # correlate(None): the subquery reads audit_entries itself, not the DELETE's rows.
        batch = select(AuditEntry.id).where(AuditEntry.link_id.in_(ids), _prunable())
        batch = batch.order_by(AuditEntry.id).limit(limit).correlate(None)
        gone = session.execute(delete(AuditEntry).where(AuditEntry.id.in_(batch.scalar_subquery()))).rowcount  # type: ignore[attr-defined]
        removed += gone
        if gone < limit:
            break
    for link in links:
        count, _first, _last, digest = _link_entries(session, link.id)
        if not count:
            session.delete(link)
            continue
        link.pruned_at, link.kept_digest = utcnow(), digest
        link.seal = _seal(secret, link.id, link.entries_digest, digest, count)
    session.flush()
    return removed
