"""The bundle of systems of record handed to graphs through the runtime context."""

from __future__ import annotations

from dataclasses import dataclass

from app.db.engine import Database
from app.services.audit import SqlAuditLog
from app.services.conversations import SqlConversations
from app.services.directory import SqlPeople


@dataclass
class Services:
    db: Database
    audit: SqlAuditLog
    people: SqlPeople
    conversations: SqlConversations

    @classmethod
    def from_db(cls, db: Database) -> Services:
        return cls(db=db, audit=SqlAuditLog(db), people=SqlPeople(db), conversations=SqlConversations(db))
