"""The handoff queue: conversations waiting for a person. Idempotent: the same request queues once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update

from app.db.engine import Database
from app.db.schema import Handoff, HandoffMessage, utcnow
from app.errors import AccessDenied, ConciergeError
from app.identity import User
from app.redaction import redact_obj, redact_text
from app.services.hr_records import insert_once, reference

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
    claimed_at: datetime | None = None
    resolved_at: datetime | None = None
    messages: tuple[dict, ...] = field(default=(), compare=False)

    def waiting_for(self, now: datetime) -> timedelta:
        """Time in the queue so far (until claimed)."""
        end = self.claimed_at or now
        return _aware(end) - _aware(self.created_at)

    def time_to_claim(self) -> timedelta | None:
        return _aware(self.claimed_at) - _aware(self.created_at) if self.claimed_at else None


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class HandoffError(ConciergeError):
    code = "handoff"


# Which staff role works which queue; sensitive HR matters are only ever shown to HR staff.
QUEUE_ROLES = {"hr": "hr_staff", "it": "it_agent"}


def may_work(user: User, queue: str) -> bool:
    return user.has_role(QUEUE_ROLES.get(queue, ""))


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
            row, created = insert_once(s, row, Handoff, idempotency_key)
            if not created:  # a concurrent retry won the race: return its record
                return _record(row), False
            row.reference = reference("HND", row.id)
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

    # -- the staff desk -----------------------------------------------------------------------------------
    def for_staff(self, user: User, *, include_closed: bool = False) -> list[HandoffRecord]:
        """The queues this person works (HR staff: HR; IT agents: IT), oldest first."""
        queues = [q for q in QUEUE_ROLES if may_work(user, q)]
        if not queues:
            return []
        with self.db.session() as s:
            q = select(Handoff).where(Handoff.queue.in_(queues)).order_by(Handoff.id)
            if not include_closed:
                q = q.where(Handoff.state.in_(("waiting", "claimed")))
            return [_record(r) for r in s.scalars(q)]

    def get(self, reference: str, user: User) -> HandoffRecord:
        """A handoff with its messages, for staff of its queue or the employee it belongs to."""
        with self.db.session() as s:
            row = s.scalars(select(Handoff).where(Handoff.reference == reference.strip().upper())).first()
            if row is None or not (may_work(user, row.queue) or row.user_id == user.id):
                raise AccessDenied(f"{user.id} may not see {reference}",
                                   user_message=f"I can't find a handoff {reference.upper()} in your queues.")
            msgs = tuple(
                {"author": m.author_name, "direction": m.direction, "text": m.text, "at": m.created_at,
                 "delivered": m.delivered}
                for m in s.scalars(select(HandoffMessage).where(HandoffMessage.handoff_id == row.id)
                                   .order_by(HandoffMessage.id))
            )
            return _record(row, msgs)

    def _staff_row(self, s, reference: str, user: User) -> Handoff:
        row = s.scalars(select(Handoff).where(Handoff.reference == reference.strip().upper())).first()
        if row is None or not may_work(user, row.queue):
            raise AccessDenied(f"{user.id} may not work {reference}",
                               user_message=f"I can't find a handoff {reference.upper()} in your queues.")
        return row

    def claim(self, reference: str, user: User) -> HandoffRecord:
        """Take ownership; the bot stops answering the employee. Claiming one's own claim again is a no-op."""
        with self.db.session() as s:
            row = self._staff_row(s, reference, user)
            if row.state == "claimed" and row.assigned_to != user.id:
                raise HandoffError(reference, user_message=f"{row.reference} is already claimed by {row.assigned_to}.")
            if row.state in ("resolved", "returned"):
                raise HandoffError(reference, user_message=f"{row.reference} is already {row.state}.")
            if row.state == "waiting":
                # Compare-and-set: of two staff claiming at once, exactly one wins.
                won = s.execute(
                    update(Handoff).where(Handoff.id == row.id, Handoff.state == "waiting")
                    .values(state="claimed", assigned_to=user.id, claimed_at=utcnow())
                ).rowcount
                s.commit()
                s.refresh(row)
                if not won and row.assigned_to != user.id:
                    raise HandoffError(reference,
                                       user_message=f"{row.reference} was just claimed by {row.assigned_to}.")
            return _record(row)

    def finish(self, reference: str, user: User, *, to_bot: bool, note: str = "") -> HandoffRecord:
        """Resolve it, or hand the conversation back to the bot. Only the person who claimed it can."""
        with self.db.session() as s:
            row = self._staff_row(s, reference, user)
            if row.state in ("resolved", "returned"):
                return _record(row)
            if row.state == "claimed" and row.assigned_to != user.id:
                raise HandoffError(reference, user_message=f"{row.reference} is claimed by {row.assigned_to}.")
            row.state = "returned" if to_bot else "resolved"
            row.assigned_to = row.assigned_to or user.id
            row.resolved_at = utcnow()
            if note:
                s.add(HandoffMessage(handoff_id=row.id, thread_id=row.thread_id, author_id=user.id,
                                     author_name=user.name, direction="note", text=redact_text(note), delivered=True))
            s.commit()
            return _record(row)

    def add_message(self, reference: str, user: User, text: str) -> tuple[HandoffRecord, int]:
        """A staff reply for the employee (the claimant only); returns the record and the message id."""
        with self.db.session() as s:
            row = self._staff_row(s, reference, user)
            if row.state != "claimed" or row.assigned_to != user.id:
                raise HandoffError(reference, user_message=f"Claim {row.reference} first, then reply.")
            msg = HandoffMessage(handoff_id=row.id, thread_id=row.thread_id, author_id=user.id,
                                 author_name=user.name, direction="to_employee", text=text[:4000])
            s.add(msg)
            s.commit()
            return _record(row), msg.id

    def employee_wrote(self, thread_id: str, user: User, text: str) -> HandoffRecord | None:
        """While a person owns the conversation, the employee's messages go to them (not to the bot)."""
        owned = self.owned(thread_id)
        if owned is None:
            return None
        with self.db.session() as s:
            s.add(HandoffMessage(handoff_id=owned.id, thread_id=thread_id, author_id=user.id, author_name=user.name,
                                 direction="to_staff", text=redact_text(text)[:4000], delivered=False))
            s.commit()
        return owned

    def owned(self, thread_id: str) -> HandoffRecord | None:
        """The claimed handoff of a thread, if a person owns the conversation now."""
        with self.db.session() as s:
            row = s.scalars(select(Handoff).where(Handoff.thread_id == thread_id, Handoff.state == "claimed")).first()
            return _record(row) if row else None

    def undelivered(self, thread_id: str) -> list[dict]:
        with self.db.session() as s:
            rows = s.scalars(select(HandoffMessage).where(
                HandoffMessage.thread_id == thread_id, HandoffMessage.direction == "to_employee",
                HandoffMessage.delivered.is_(False)).order_by(HandoffMessage.id)).all()
            return [{"id": m.id, "author": m.author_name, "text": m.text} for m in rows]

    def mark_delivered(self, message_ids: list[int]) -> None:
        with self.db.session() as s:
            for m in s.scalars(select(HandoffMessage).where(HandoffMessage.id.in_(message_ids))):
                m.delivered = True
            s.commit()

    def list(self, *, queue: str | None = None, state: str | None = None) -> list[HandoffRecord]:
        with self.db.session() as s:
            q = select(Handoff).order_by(Handoff.id)
            if queue:
                q = q.where(Handoff.queue == queue)
            if state:
                q = q.where(Handoff.state == state)
            return [_record(r) for r in s.scalars(q)]


def _record(row: Handoff, messages: tuple[dict, ...] = ()) -> HandoffRecord:
    return HandoffRecord(
        row.id, row.reference, row.thread_id, row.user_id, row.queue, row.priority, row.reason, row.summary,
        list(row.transcript or []), row.state, row.assigned_to, row.created_at, row.claimed_at, row.resolved_at,
        messages,
    )
