"""The bundle of systems of record handed to graphs through the runtime context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.db.engine import Database
from app.services.audit import SqlAuditLog
from app.services.conversations import SqlConversations
from app.services.directory import SqlPeople
from app.services.handoffs import SqlHandoffs
from app.settings import Settings

if TYPE_CHECKING:
    from knowledge.retrieval import Retriever


@dataclass
class Services:
    db: Database
    audit: SqlAuditLog
    people: SqlPeople
    conversations: SqlConversations
    handoffs: SqlHandoffs
    settings: Settings | None = None
    knowledge: Retriever | None = field(default=None, repr=False)

    @classmethod
    def from_db(cls, db: Database, settings: Settings | None = None, *, retriever: Retriever | None = None) -> Services:
        return cls(
            db=db,
            audit=SqlAuditLog(db),
            people=SqlPeople(db),
            conversations=SqlConversations(db),
            handoffs=SqlHandoffs(db),
            settings=settings,
            knowledge=retriever,
        )

    @property
    def retriever(self) -> Retriever:
        """The knowledge-base retriever, opened on first use (it loads Chroma and the embedding model)."""
        if self.knowledge is None:
            if self.settings is None:
                raise RuntimeError("Services needs settings to open the knowledge base")
            from knowledge.retrieval import Retriever

            self.knowledge = Retriever(self.settings)
        return self.knowledge
