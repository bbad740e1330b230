"""The handoff queue: conversations waiting for a person. Idempotent: the same request queues once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db.engine import Database
from app.db.schema import Handoff
from app.redaction import redact_obj, redact_text

QUEUES = ("hr", "it")
PRIORITIES = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class HandoffRecord:
    id: int
    reference: str
    thread_id: str
    user_id: str
    queue: str
    priority: str
    reason: str
    summary: str
    transcript: list
    state: str
    assigned_to: str | None
    created_at: datetime


class Handoffs(Protocol):
    def queue(
        self, *, thread_id: str, user_id: str, queue: str, reason: str, summary: str, transcript: list,
        priority: str = "normal", idempotency_key: str,
    ) -> tuple[HandoffRecord, bool]: ...

    def open_for_thread(self, thread_id: str) -> HandoffRecord | None: ...


class SqlHandoffs:
    def __init__(self, db: Database):
        self.db = db

    def queue(
        self,
        *,
        thread_id: str,
        user_id: str,
        queue: str,
        reason: str,
        summary: str,
        transcript: list,
        priority: str = "normal",
        idempotency_key: str,
    ) -> tuple[HandoffRecord, bool]:
        """Queue a handoff; returns (record, created). A retried request returns the first record."""
        if queue not in QUEUES:
            raise ValueError(f"unknown queue {queue!r}")
        if priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r}")
        by_key = select(Handoff).where(Handoff.idempotency_key == idempotency_key)
        with self.db.session() as s:
            existing = s.scalars(by_key).first()
            if existing is not None:
                return _record(existing), False
            row = Handoff(
                reference="pending",
                idempotency_key=idempotency_key,
                thread_id=thread_id,
                user_id=user_id,
                queue=queue,
                priority=priority,
                reason=reason,
                summary=redact_text(summary),
                transcript=redact_obj(transcript),
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError:  # a concurrent retry won the race: return its record
                s.rollback()
                return _record(s.scalars(by_key).one()), False
            row.reference = f"HND{row.id:07d}"
            s.commit()
            return _record(row), True

    def open_for_thread(self, thread_id: str) -> HandoffRecord | None:
        with self.db.session() as s:
            q = (
                select(Handoff)
                .where(Handoff.thread_id == thread_id, Handoff.state.in_(("waiting", "claimed")))
                .order_by(Handoff.id.desc())
            )
            row = s.scalars(q).first()
            return _record(row) if row else None

    def list(self, *, queue: str | None = None, state: str | None = None) -> list[HandoffRecord]:
        with self.db.session() as s:
            q = select(Handoff).order_by(Handoff.id)
            if queue:
                q = q.where(Handoff.queue == queue)
            if state:
                q = q.where(Handoff.state == state)
            return [_record(r) for r in s.scalars(q)]


def _record(row: Handoff) -> HandoffRecord:
    return HandoffRecord(
        row.id, row.reference, row.thread_id, row.user_id, row.queue, row.priority, row.reason, row.summary,
        list(row.transcript or []), row.state, row.assigned_to, row.created_at,
    )
