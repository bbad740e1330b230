"""Out-of-band delivery (SMS, personal e-mail) for one-time codes, temporary passwords and links.

In this build messages land in the ``outbox`` table, which the demo (``concierge outbox``) and tests read;
a deployment replaces ``SqlOutbox`` with a gateway that implements the same ``Outbox`` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select

from app.db.engine import Database
from app.db.schema import OutboxMessage


@dataclass(frozen=True)
class Delivered:
    id: int
    user_id: str
    channel: str
    address: str
    kind: str
    body: str
    created_at: datetime


class Outbox(Protocol):
    def send(self, *, user_id: str, channel: str, address: str, kind: str, body: str) -> Delivered: ...


class SqlOutbox:
    def __init__(self, db: Database):
        self.db = db

    def send(self, *, user_id: str, channel: str, address: str, kind: str, body: str) -> Delivered:
        row = OutboxMessage(user_id=user_id, channel=channel, address=address, kind=kind, body=body)
        with self.db.session() as s:
            s.add(row)
            s.commit()
            return _delivered(row)

    def messages(self, user_id: str | None = None, *, limit: int = 20) -> list[Delivered]:
        """Newest first."""
        with self.db.session() as s:
            q = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
            if user_id:
                q = q.where(OutboxMessage.user_id == user_id)
            return [_delivered(r) for r in s.scalars(q)]


def _delivered(row: OutboxMessage) -> Delivered:
    return Delivered(row.id, row.user_id, row.channel, row.address, row.kind, row.body, row.created_at)


def mask_address(channel: str, address: str) -> str:
    """What the employee is shown: enough to recognise the contact, not enough to harvest it."""
    if channel == "email" and "@" in address:
        name, domain = address.split("@", 1)
        return f"{name[:1]}•••@{domain}"
    digits = [c for c in address if c.isdigit()]
    return "•••• " + "".join(digits[-3:])
