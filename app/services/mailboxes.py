"""Mailboxes: a joiner's mailbox, and a leaver's mailbox and files delegated to someone (usually the manager).

A provisioning system (see ``app.services.hr_records`` for the shared contract): every write is idempotent
by key, every write has an idempotent compensation that returns whether it changed anything, and
``live_records`` lists what is still in force for a person. An address belongs to one active mailbox at a
time; a deleted mailbox's address can be used again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.schema import MailboxRow, MailboxTransferRow, utcnow
from app.services.hr_records import (
    ProvisioningStateError,
    aware,
    aware_or_none,
    claim_action,
    first_by_key,
    insert_once,
    person_key,
    reference,
)

SERVICE = "mailboxes"
MAILBOX_STATUSES = ("active", "deleted")
TRANSFER_STATUSES = ("active", "undone")
TRANSFER_SCOPE = ("mailbox", "files")
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Mailbox:
    address: str
    person_id: str
    status: str  # active | deleted
    delegated_to: str | None  # whom a live transfer gives access to
    created_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class MailboxTransfer:
    reference: str  # MBT + 7 digits
    person_id: str
    to_user_id: str
    scope: tuple[str, ...]  # ("mailbox", "files")
    status: str  # active | undone
    created_at: datetime
    undone_at: datetime | None


class Mailboxes(Protocol):
    def create_mailbox(self, person_id: str, address: str, *, idempotency_key: str) -> Mailbox: ...
    def delete_mailbox(self, person_id: str, *, idempotency_key: str) -> bool: ...
    def transfer(self, person_id: str, to_user_id: str, *, idempotency_key: str) -> MailboxTransfer: ...
    def undo_transfer(self, person_id: str, *, idempotency_key: str) -> bool: ...
    def mailbox_of(self, person_id: str) -> Mailbox | None: ...
    def live_records(self, person_id: str) -> list[Mailbox | MailboxTransfer]: ...


class SqlMailboxes:
    def __init__(self, db: Database):
        self.db = db

    def create_mailbox(self, person_id: str, address: str, *, idempotency_key: str) -> Mailbox:
        """Create the person's mailbox (one active per person). Undone by ``delete_mailbox``."""
        pid = person_key(person_id)
        addr = (address or "").strip().lower()
        if not _ADDRESS.fullmatch(addr) or len(addr) > 320:
            raise ValueError("a mailbox address looks like name@example.com")
        with self.db.session() as s:
            existing = first_by_key(s, MailboxRow, idempotency_key, pid)
            if existing is not None:
                return _mailbox(s, existing)
            if s.scalars(_mailboxes(pid).where(MailboxRow.status == "active")).first() is not None:
                raise ProvisioningStateError(f"{pid} already has a mailbox")
            q = select(MailboxRow).where(MailboxRow.address == addr, MailboxRow.status == "active")
            if s.scalars(q).first() is not None:
                raise ProvisioningStateError(f"{addr} is already in use")
            row = MailboxRow(idempotency_key=idempotency_key, person_id=pid, address=addr, status="active",
                             created_at=utcnow())
            row, created = insert_once(s, row, MailboxRow, idempotency_key)
            if created:
                s.commit()
            return _mailbox(s, row)

    def delete_mailbox(self, person_id: str, *, idempotency_key: str) -> bool:
        """Undo ``create_mailbox``: the person's active mailbox is deleted."""
        pid = person_key(person_id)
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, "delete_mailbox", pid, idempotency_key)
            if not fresh:
                return False
            now = utcnow()
            for row in s.scalars(_mailboxes(pid).where(MailboxRow.status == "active")):
                row.status, row.deleted_at = "deleted", now
                entry.changed = True
            s.commit()
            return entry.changed

    def transfer(self, person_id: str, to_user_id: str, *, idempotency_key: str) -> MailboxTransfer:
        """Delegate a leaver's mailbox and files to ``to_user_id`` (one live transfer per person).
        Undone by ``undo_transfer``."""
        pid, to = person_key(person_id), person_key(to_user_id)
        if pid == to:
            raise ValueError("a mailbox cannot be transferred to its owner")
        with self.db.session() as s:
            existing = first_by_key(s, MailboxTransferRow, idempotency_key, pid)
            if existing is not None:
                return _transfer(existing)
            live = s.scalars(_transfers(pid).where(MailboxTransferRow.status == "active")).first()
            if live is not None:
                raise ProvisioningStateError(f"{pid}'s mailbox is already delegated to {live.to_user_id}")
            row = MailboxTransferRow(idempotency_key=idempotency_key, person_id=pid, to_user_id=to,
                                     scope=list(TRANSFER_SCOPE), status="active", created_at=utcnow())
            row, created = insert_once(s, row, MailboxTransferRow, idempotency_key)
            if created:
                s.commit()
            return _transfer(row)

    def undo_transfer(self, person_id: str, *, idempotency_key: str) -> bool:
        """Undo ``transfer``: the delegate loses access to the person's mailbox and files."""
        pid = person_key(person_id)
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, "undo_transfer", pid, idempotency_key)
            if not fresh:
                return False
            now = utcnow()
            for row in s.scalars(_transfers(pid).where(MailboxTransferRow.status == "active")):
                row.status, row.undone_at = "undone", now
                entry.changed = True
            s.commit()
            return entry.changed

    def mailbox_of(self, person_id: str) -> Mailbox | None:
        """The person's active mailbox, else their newest one; ``None`` if they never had one."""
        with self.db.session() as s:
            q = _mailboxes(person_key(person_id)).order_by(None).order_by(
                (MailboxRow.status == "active").desc(), MailboxRow.id.desc())
            row = s.scalars(q).first()
            return _mailbox(s, row) if row else None

    def transfers_of(self, person_id: str) -> list[MailboxTransfer]:
        """Every transfer of the person's mailbox, oldest first, undone ones included."""
        with self.db.session() as s:
            return [_transfer(r) for r in s.scalars(_transfers(person_key(person_id)))]

    def live_records(self, person_id: str) -> list[Mailbox | MailboxTransfer]:
        """What is in force for the person: the active mailbox and live transfers."""
        pid = person_key(person_id)
        with self.db.session() as s:
            out: list[Mailbox | MailboxTransfer] = [
                _mailbox(s, r) for r in s.scalars(_mailboxes(pid).where(MailboxRow.status == "active"))
            ]
            out += [_transfer(r) for r in s.scalars(_transfers(pid).where(MailboxTransferRow.status == "active"))]
            return out


def _mailboxes(pid: str):
    return select(MailboxRow).where(MailboxRow.person_id == pid).order_by(MailboxRow.id)


def _transfers(pid: str):
    return select(MailboxTransferRow).where(MailboxTransferRow.person_id == pid).order_by(MailboxTransferRow.id)


def _mailbox(s: Session, row: MailboxRow) -> Mailbox:
    delegate = None
    if row.status == "active":
        q = _transfers(row.person_id).where(MailboxTransferRow.status == "active")
        live = s.scalars(q).first()
        delegate = live.to_user_id if live else None
    return Mailbox(row.address, row.person_id, row.status, delegate, aware(row.created_at),
                   aware_or_none(row.deleted_at))


def _transfer(row: MailboxTransferRow) -> MailboxTransfer:
    return MailboxTransfer(reference("MBT", row.id), row.person_id, row.to_user_id, tuple(row.scope or ()),
                           row.status, aware(row.created_at), aware_or_none(row.undone_at))
