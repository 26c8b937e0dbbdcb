"""The audit trail's tamper evidence: links that chain each transaction's entries, the chains'
heads (with the signed checkpoint of what pruning removed), and the last verification's outcome.

The rules live in ``webapp/audit_chain.py``; these are only the tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db


class AuditLink(db.Model):  # type: ignore[name-defined]
    """One transaction's entries, appended to one chain: ``link_hash`` = sha256(the previous
    link's hash ‖ ``entries_digest``), ``entries_digest`` = sha256(its entries' hashes in id order).

    ``pruned_at`` and ``seal`` are set when pruning removed some of its entries but had to keep
    others (the latest entry of a live record): ``kept_digest`` then covers those, and ``seal``
    (an HMAC over the secret key) vouches that the removal was pruning's."""

    __tablename__ = "audit_links"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chain: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    position: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    entry_count: Mapped[int] = mapped_column(nullable=False)
    first_entry_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_entry_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    entries_digest: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    link_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    pruned_at: Mapped[datetime | None] = mapped_column(default=None)
    kept_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    seal: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)

    __table_args__ = (
        UniqueConstraint("chain", "position", name="uq_audit_links_chain_position"),
        Index("ix_audit_links_created_at", "created_at"),
    )


class AuditChain(db.Model):  # type: ignore[name-defined]
    """A chain's head (its last link), locked by the transaction appending to it, and its
    checkpoint: the position and hash of the last link pruning removed, signed."""

    __tablename__ = "audit_chains"

    chain: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    link_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    checkpoint_position: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    checkpoint_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    checkpoint_signature: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)


class AuditVerification(db.Model):  # type: ignore[name-defined]
    """One run of ``flask audit verify``: when, up to which entry, and the first mismatch if any."""

    __tablename__ = "audit_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    finished_at: Mapped[datetime] = mapped_column(nullable=False)
    verified_up_to: Mapped[int | None] = mapped_column(BigInteger)
    mismatch_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    message: Mapped[str] = mapped_column(String(500), nullable=False, default="")
