"""Thread ownership: a conversation belongs to the user who started it and nobody else."""

from __future__ import annotations

from sqlalchemy import select

from app.db.engine import Database
from app.db.schema import Conversation, utcnow
from app.errors import AccessDenied


class SqlConversations:
    def __init__(self, db: Database):
        self.db = db

    def claim(self, thread_id: str, user_id: str, *, channel: str = "web", title: str | None = None) -> bool:
        """Record ``user_id`` as owner of a new thread, or check they own an existing one.

        Returns True when the thread is new. Raises AccessDenied for someone else's thread.
        """
        with self.db.session() as s:
            row = s.get(Conversation, thread_id)
            if row is None:
                s.add(Conversation(thread_id=thread_id, user_id=user_id, channel=channel, title=title))
                s.commit()
                return True
            if row.user_id != user_id:
                raise AccessDenied(f"user {user_id} tried to use thread {thread_id} of {row.user_id}")
            row.updated_at = utcnow()
            s.commit()
            return False

    def owner(self, thread_id: str) -> str | None:
        with self.db.session() as s:
            row = s.get(Conversation, thread_id)
            return row.user_id if row else None

    def for_user(self, user_id: str, limit: int = 50) -> list[Conversation]:
        with self.db.session() as s:
            q = (
                select(Conversation)
                .where(Conversation.user_id == user_id)
                .order_by(Conversation.updated_at.desc())
                .limit(limit)
            )
            return list(s.scalars(q))
