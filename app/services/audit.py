"""Audit log: an append-only trail of every turn and action, with PII redacted before it is written."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from app.db.engine import Database
from app.db.schema import AuditEvent
from app.redaction import redact_obj

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditRecord:
    id: int
    ts: datetime
    actor: str
    event_type: str
    thread_id: str | None
    details: dict[str, Any]


class AuditLog(Protocol):
    def append(
        self, actor: str, event_type: str, *, thread_id: str | None = None, **details: Any
    ) -> AuditRecord: ...

    def events(
        self,
        *,
        thread_id: str | None = None,
        event_type: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[AuditRecord]: ...


class SqlAuditLog:
    """SQL implementation; every detail string passes through redaction first."""

    def __init__(self, db: Database):
        self.db = db

    def append(
        self, actor: str, event_type: str, *, thread_id: str | None = None, **details: Any
    ) -> AuditRecord:
        with self.db.session() as s:
            row = self.add_to(s, actor, event_type, thread_id=thread_id, **details)
            s.commit()
            return _record(row)

    def add_to(self, session, actor: str, event_type: str, *, thread_id: str | None = None,
               **details: Any) -> AuditEvent:
        """Add the event to the caller's transaction, so the change and its audit record commit together."""
        row = AuditEvent(actor=actor, event_type=event_type, thread_id=thread_id, details=redact_obj(details))
        session.add(row)
        log.debug("audit %s %s thread=%s", event_type, actor, thread_id)
        return row

    def events(
        self,
        *,
        thread_id: str | None = None,
        event_type: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        q = select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id).limit(limit)
        if thread_id is not None:
            q = q.where(AuditEvent.thread_id == thread_id)
        if event_type is not None:
            q = q.where(AuditEvent.event_type == event_type)
        with self.db.session() as s:
            return [_record(r) for r in s.scalars(q)]

    def last_id(self) -> int:
        with self.db.session() as s:
            row = s.scalars(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)).first()
            return row or 0


def _record(row: AuditEvent) -> AuditRecord:
    return AuditRecord(row.id, row.ts, row.actor, row.event_type, row.thread_id, dict(row.details or {}))
