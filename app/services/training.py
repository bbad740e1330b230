"""Training: enrolling joiners in their courses (induction, security awareness, role courses).

A provisioning system (see ``app.services.hr_records`` for the shared contract): every write is idempotent
by key, every write has an idempotent compensation that returns whether it changed anything, and
``live_records`` lists what is still in force for a person. A person may hold several enrolments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select

from app.db.engine import Database
from app.db.schema import TrainingEnrolmentRow, utcnow
from app.services.hr_records import (
    aware,
    aware_or_none,
    claim_action,
    clean_list,
    first_by_key,
    insert_once,
    person_key,
    reference,
)

SERVICE = "training"
STATUSES = ("enrolled", "withdrawn")


@dataclass(frozen=True)
class TrainingEnrolment:
    reference: str  # TRN + 7 digits
    person_id: str
    courses: tuple[str, ...]
    status: str  # enrolled | withdrawn
    created_at: datetime
    withdrawn_at: datetime | None


class Training(Protocol):
    def enrol(self, person_id: str, courses: list[str], *, idempotency_key: str) -> TrainingEnrolment: ...
    def withdraw(self, person_id: str, *, idempotency_key: str) -> bool: ...
    def enrolments_of(self, person_id: str) -> list[TrainingEnrolment]: ...
    def live_records(self, person_id: str) -> list[TrainingEnrolment]: ...


class SqlTraining:
    def __init__(self, db: Database):
        self.db = db

    def enrol(self, person_id: str, courses: list[str], *, idempotency_key: str) -> TrainingEnrolment:
        """Enrol the person in the courses. Undone by ``withdraw``."""
        pid = person_key(person_id)
        course_list = clean_list(courses, "courses")
        with self.db.session() as s:
            existing = first_by_key(s, TrainingEnrolmentRow, idempotency_key, pid)
            if existing is not None:
                return _enrolment(existing)
            row = TrainingEnrolmentRow(idempotency_key=idempotency_key, person_id=pid, courses=course_list,
                                       status="enrolled", created_at=utcnow())
            row, created = insert_once(s, row, TrainingEnrolmentRow, idempotency_key)
            if created:
                s.commit()
            return _enrolment(row)

    def withdraw(self, person_id: str, *, idempotency_key: str) -> bool:
        """Undo ``enrol``: every live enrolment of the person is withdrawn."""
        pid = person_key(person_id)
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, "withdraw", pid, idempotency_key)
            if not fresh:
                return False
            now = utcnow()
            for row in s.scalars(_of(pid).where(TrainingEnrolmentRow.status == "enrolled")):
                row.status, row.withdrawn_at = "withdrawn", now
                entry.changed = True
            s.commit()
            return entry.changed

    def enrolments_of(self, person_id: str) -> list[TrainingEnrolment]:
        """Every enrolment of the person, oldest first, withdrawn ones included."""
        with self.db.session() as s:
            return [_enrolment(r) for r in s.scalars(_of(person_key(person_id)))]

    def live_records(self, person_id: str) -> list[TrainingEnrolment]:
        """What is in force for the person: enrolments not withdrawn."""
        with self.db.session() as s:
            q = _of(person_key(person_id)).where(TrainingEnrolmentRow.status == "enrolled")
            return [_enrolment(r) for r in s.scalars(q)]


def _of(pid: str):
    return select(TrainingEnrolmentRow).where(TrainingEnrolmentRow.person_id == pid).order_by(TrainingEnrolmentRow.id)


def _enrolment(row: TrainingEnrolmentRow) -> TrainingEnrolment:
    return TrainingEnrolment(reference("TRN", row.id), row.person_id, tuple(row.courses or ()), row.status,
                             aware(row.created_at), aware_or_none(row.withdrawn_at))
