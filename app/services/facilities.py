"""Facilities: building access badges and desks.

A provisioning system (see ``app.services.hr_records`` for the shared contract): every write is idempotent
by key, every write has an idempotent compensation that returns whether it changed anything, and
``live_records`` lists what is still in force for a person. A badge is printed, so issuing one is undone by
deactivating it; deactivating a leaver's badge is undone by reactivating it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select

from app.db.engine import Database
from app.db.schema import BadgeRow, DeskAssignmentRow, utcnow
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

SERVICE = "facilities"
BADGE_STATUSES = ("active", "deactivated")
DESK_STATUSES = ("assigned", "released")


@dataclass(frozen=True)
class Badge:
    number: str  # BDG + 7 digits
    person_id: str
    location: str
    status: str  # active | deactivated
    issued_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DeskAssignment:
    desk: str  # DSK + 7 digits
    person_id: str
    location: str
    status: str  # assigned | released
    assigned_at: datetime
    released_at: datetime | None


class Facilities(Protocol):
    def issue_badge(self, person_id: str, location: str, *, idempotency_key: str) -> Badge: ...
    def deactivate_badge(self, person_id: str, *, idempotency_key: str) -> bool: ...
    def reactivate_badge(self, person_id: str, *, idempotency_key: str) -> bool: ...
    def assign_desk(self, person_id: str, location: str, *, idempotency_key: str) -> DeskAssignment: ...
    def release_desk(self, person_id: str, *, idempotency_key: str) -> bool: ...
    def badge_of(self, person_id: str) -> Badge | None: ...
    def live_records(self, person_id: str) -> list[Badge | DeskAssignment]: ...


class SqlFacilities:
    def __init__(self, db: Database):
        self.db = db

    # -- badges -------------------------------------------------------------------------------------------
    def issue_badge(self, person_id: str, location: str, *, idempotency_key: str) -> Badge:
        """Issue a badge for a location (one active badge per person). Undone by ``deactivate_badge``."""
        pid = person_key(person_id)
        with self.db.session() as s:
            existing = first_by_key(s, BadgeRow, idempotency_key, pid)
            if existing is not None:
                return _badge(existing)
            active = s.scalars(_badges(pid).where(BadgeRow.status == "active")).first()
            if active is not None:
                raise ProvisioningStateError(f"{pid} already has an active badge ({reference('BDG', active.id)})")
            now = utcnow()
            row = BadgeRow(idempotency_key=idempotency_key, person_id=pid, location=_location(location),
                           status="active", created_at=now, updated_at=now)
            row, created = insert_once(s, row, BadgeRow, idempotency_key)
            if created:
                s.commit()
            return _badge(row)

    def deactivate_badge(self, person_id: str, *, idempotency_key: str) -> bool:
        """The person's active badge stops opening doors (a leaver, or undoing ``issue_badge``)."""
        return self._set_badge(person_id, "deactivate_badge", "active", "deactivated", idempotency_key)

    def reactivate_badge(self, person_id: str, *, idempotency_key: str) -> bool:
        """Undo ``deactivate_badge``: the newest deactivated badge works again (unless another is active)."""
        return self._set_badge(person_id, "reactivate_badge", "deactivated", "active", idempotency_key)

    def badge_of(self, person_id: str) -> Badge | None:
        """The person's newest badge, whatever its status."""
        with self.db.session() as s:
            row = s.scalars(_badges(person_key(person_id)).order_by(None).order_by(BadgeRow.id.desc())).first()
            return _badge(row) if row else None

    # -- desks --------------------------------------------------------------------------------------------
    def assign_desk(self, person_id: str, location: str, *, idempotency_key: str) -> DeskAssignment:
        """Assign a desk at a location (one assigned desk per person). Undone by ``release_desk``."""
        pid = person_key(person_id)
        with self.db.session() as s:
            existing = first_by_key(s, DeskAssignmentRow, idempotency_key, pid)
            if existing is not None:
                return _desk(existing)
            if s.scalars(_desks(pid).where(DeskAssignmentRow.status == "assigned")).first() is not None:
                raise ProvisioningStateError(f"{pid} already has a desk")
            row = DeskAssignmentRow(idempotency_key=idempotency_key, person_id=pid, location=_location(location),
                                    status="assigned", created_at=utcnow())
            row, created = insert_once(s, row, DeskAssignmentRow, idempotency_key)
            if created:
                s.commit()
            return _desk(row)

    def release_desk(self, person_id: str, *, idempotency_key: str) -> bool:
        """Undo ``assign_desk`` (or free a leaver's desk)."""
        pid = person_key(person_id)
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, "release_desk", pid, idempotency_key)
            if not fresh:
                return False
            now = utcnow()
            for row in s.scalars(_desks(pid).where(DeskAssignmentRow.status == "assigned")):
                row.status, row.released_at = "released", now
                entry.changed = True
            s.commit()
            return entry.changed

    def desk_of(self, person_id: str) -> DeskAssignment | None:
        """The person's assigned desk, if any."""
        with self.db.session() as s:
            row = s.scalars(_desks(person_key(person_id)).where(DeskAssignmentRow.status == "assigned")).first()
            return _desk(row) if row else None

    # -- leftovers ----------------------------------------------------------------------------------------
    def live_records(self, person_id: str) -> list[Badge | DeskAssignment]:
        """What is in force for the person: active badges and assigned desks."""
        pid = person_key(person_id)
        with self.db.session() as s:
            out: list[Badge | DeskAssignment] = [
                _badge(r) for r in s.scalars(_badges(pid).where(BadgeRow.status == "active"))
            ]
            out += [_desk(r) for r in s.scalars(_desks(pid).where(DeskAssignmentRow.status == "assigned"))]
            return out

    def _set_badge(self, person_id: str, action: str, from_status: str, to_status: str, key: str) -> bool:
        pid = person_key(person_id)
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, action, pid, key)
            if not fresh:
                return False
            if to_status == "active":
                if s.scalars(_badges(pid).where(BadgeRow.status == "active")).first() is not None:
                    s.commit()  # already has a working badge: nothing to reactivate
                    return False
                q = _badges(pid).where(BadgeRow.status == from_status).order_by(None).order_by(BadgeRow.id.desc())
                rows = list(s.scalars(q.limit(1)))
            else:
                rows = list(s.scalars(_badges(pid).where(BadgeRow.status == from_status)))
            now = utcnow()
            for row in rows:
                row.status, row.updated_at = to_status, now
            entry.changed = bool(rows)
            entry.detail = {"badges": [reference("BDG", r.id) for r in rows]}
            s.commit()
            return entry.changed


def _location(location: str) -> str:
    loc = " ".join((location or "").split())
    if not loc:
        raise ValueError("a location is required")
    return loc[:100]


def _badges(pid: str):
    return select(BadgeRow).where(BadgeRow.person_id == pid).order_by(BadgeRow.id)


def _desks(pid: str):
    return select(DeskAssignmentRow).where(DeskAssignmentRow.person_id == pid).order_by(DeskAssignmentRow.id)


def _badge(row: BadgeRow) -> Badge:
    return Badge(reference("BDG", row.id), row.person_id, row.location, row.status, aware(row.created_at),
                 aware(row.updated_at))


def _desk(row: DeskAssignmentRow) -> DeskAssignment:
    return DeskAssignment(reference("DSK", row.id), row.person_id, row.location, row.status,
                          aware(row.created_at), aware_or_none(row.released_at))
