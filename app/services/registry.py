"""The bundle of systems of record handed to graphs through the runtime context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from app.db.engine import Database
from app.db.schema import utcnow
from app.services.accounts import DirectoryConnector, SqlDirectory
from app.services.approvals import SqlApprovals
from app.services.assets import SqlAssets
from app.services.audit import SqlAuditLog
from app.services.catalog import Catalog
from app.services.conversations import SqlConversations
from app.services.directory import SqlPeople
from app.services.facilities import SqlFacilities
from app.services.handoffs import SqlHandoffs
from app.services.hr_records import SqlHrRecords
from app.services.leave import SqlLeave
from app.services.mailboxes import SqlMailboxes
from app.services.outbox import SqlOutbox
from app.services.tickets import SqlTickets
from app.services.training import SqlTraining
from app.services.verification import Verifier
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
    tickets: SqlTickets
    directory: DirectoryConnector
    approvals: SqlApprovals
    outbox: SqlOutbox
    hr: SqlHrRecords
    assets: SqlAssets
    facilities: SqlFacilities
    training: SqlTraining
    mailboxes: SqlMailboxes
    leave: SqlLeave
    settings: Settings | None = None
    knowledge: Retriever | None = field(default=None, repr=False)
    # Time as the services see it; tests move it forward to expire codes and lockouts.
    clock: Callable[[], datetime] = field(default=utcnow, repr=False)

    @classmethod
    def from_db(cls, db: Database, settings: Settings | None = None, *, retriever: Retriever | None = None) -> Services:
        audit = SqlAuditLog(db)
        return cls(
            db=db,
            audit=audit,
            people=SqlPeople(db),
            conversations=SqlConversations(db),
            handoffs=SqlHandoffs(db),
            tickets=SqlTickets(db),
            directory=SqlDirectory(db, audit),
            approvals=SqlApprovals(db),
            outbox=SqlOutbox(db),
            hr=SqlHrRecords(db),
            assets=SqlAssets(db),
            facilities=SqlFacilities(db),
            training=SqlTraining(db),
            mailboxes=SqlMailboxes(db),
            leave=SqlLeave(db),
            settings=settings,
            knowledge=retriever,
        )

    def __post_init__(self) -> None:
        # The leave service reads "today" from the same clock tests move forward.
        self.leave.clock = lambda: self.clock()

    @cached_property
    def verifier(self) -> Verifier:
        return Verifier(self.db, self.outbox, self.audit, clock=lambda: self.clock())

    @cached_property
    def catalog(self) -> Catalog:
        """Configuration items and vendors (the built-in catalog when there are no settings)."""
        from app.settings import Settings

        s = self.settings or Settings()
        return Catalog.load(s.ci_catalog, s.vendor_catalog)

    @property
    def retriever(self) -> Retriever:
        """The knowledge-base retriever, opened on first use (it loads Chroma and the embedding model)."""
        if self.knowledge is None:
            if self.settings is None:
                raise RuntimeError("Services needs settings to open the knowledge base")
            from knowledge.retrieval import Retriever

            self.knowledge = Retriever(self.settings)
        return self.knowledge
