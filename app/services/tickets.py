"""The incident ticket system of record: numbering, the priority matrix, states, history and who may see what.

Employees see and act on only their own tickets; IT staff see the queues of the support groups they belong
to (directory group membership). Every write takes an idempotency key or is naturally idempotent, so a
retried request never creates a second ticket or a second history entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select

from app.db.engine import Database
from app.db.schema import GroupMember, Ticket, TicketEvent, utcnow
from app.errors import ConciergeError
from app.identity import User
from app.redaction import redact_text
from app.services.hr_records import insert_once, reference

STATES = ("new", "in_progress", "on_hold", "resolved", "closed", "cancelled")
OPEN_STATES = ("new", "in_progress", "on_hold")
# Allowed state changes; "resolved → in_progress" is a reopen.
TRANSITIONS = {
    "new": {"in_progress", "on_hold", "resolved", "cancelled"},
    "in_progress": {"on_hold", "resolved", "cancelled"},
    "on_hold": {"in_progress", "resolved", "cancelled"},
    "resolved": {"closed", "in_progress"},
    "closed": set(),
    "cancelled": set(),
}
RESOLUTION_CODES = ("self-service", "solved", "workaround", "duplicate", "vendor-fixed", "cancelled-by-caller")
REOPEN_WINDOW = timedelta(days=10)

# The standard impact × urgency matrix (1 = high … 3 = low).
_MATRIX = {(1, 1): "P1", (1, 2): "P2", (2, 1): "P2", (1, 3): "P3", (2, 2): "P3", (3, 1): "P3"}


def priority_for(impact: int, urgency: int) -> str:
    if impact not in (1, 2, 3) or urgency not in (1, 2, 3):
        raise ValueError("impact and urgency are 1 (high), 2 (medium) or 3 (low)")
    return _MATRIX.get((impact, urgency), "P4")


class TicketError(ConciergeError):
    code = "ticket"


class TicketNotFound(TicketError):
    code = "ticket_not_found"
    user_message = "I can't find that ticket for you."
    denied = False  # it exists but belongs to someone else (for the audit trail only, never for the reply)


class TicketStateError(TicketError):
    code = "ticket_state"


@dataclass(frozen=True)
class TicketEventRecord:
    ts: datetime
    actor: str
    kind: str
    from_state: str | None
    to_state: str | None
    text: str


@dataclass(frozen=True)
class TicketRecord:
    number: str
    caller_id: str
    short_description: str
    description: str
    category: str
    subcategory: str
    configuration_item: str | None
    impact: int
    urgency: int
    priority: str
    assignment_group: str
    state: str
    resolution_code: str | None
    resolution_notes: str | None
    vendor_id: str | None
    vendor_reference: str | None
    vendor_due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    thread_id: str | None = None
    history: tuple[TicketEventRecord, ...] = field(default=(), compare=False)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class NewTicket:
    caller_id: str
    short_description: str
    description: str
    category: str
    subcategory: str = ""
    configuration_item: str | None = None
    impact: int = 3
    urgency: int = 3
    assignment_group: str = "service-desk"
    thread_id: str | None = None


class Tickets(Protocol):
    def create(self, new: NewTicket, *, actor: str, idempotency_key: str, resolve_as: str | None = None,
               resolution_notes: str | None = None) -> tuple[TicketRecord, bool]: ...
    def get(self, number: str, user: User) -> TicketRecord: ...
    def mine(self, user: User, *, open_only: bool = False) -> list[TicketRecord]: ...
    def comment(self, number: str, user: User, text: str) -> TicketRecord: ...
    def reopen(self, number: str, user: User, reason: str) -> TicketRecord: ...
    def cancel(self, number: str, user: User, reason: str = "") -> TicketRecord: ...


class SqlTickets:
    def __init__(self, db: Database):
        self.db = db

    # -- writes -------------------------------------------------------------------------------------------
    def create(
        self,
        new: NewTicket,
        *,
        actor: str,
        idempotency_key: str,
        resolve_as: str | None = None,
        resolution_notes: str | None = None,
    ) -> tuple[TicketRecord, bool]:
        """Open a ticket (or record a self-solved one with ``resolve_as``); returns (ticket, created)."""
        if resolve_as is not None and resolve_as not in RESOLUTION_CODES:
            raise ValueError(f"unknown resolution code {resolve_as!r}")
        priority = priority_for(new.impact, new.urgency)
        by_key = select(Ticket).where(Ticket.idempotency_key == idempotency_key)
        with self.db.session() as s:
            existing = s.scalars(by_key).first()
            if existing is not None:
                return self._record(s, existing), False
            now = utcnow()
            row = Ticket(
                number="pending",
                idempotency_key=idempotency_key,
                caller_id=new.caller_id,
                thread_id=new.thread_id,
                short_description=redact_text(new.short_description)[:200],
                description=redact_text(new.description),
                category=new.category,
                subcategory=new.subcategory,
                configuration_item=new.configuration_item,
                impact=new.impact,
                urgency=new.urgency,
                priority=priority,
                assignment_group=new.assignment_group,
                state="new",
                created_at=now,
                updated_at=now,
            )
            row, created = insert_once(s, row, Ticket, idempotency_key)
            if not created:  # a concurrent retry won the race: return its record
                return self._record(s, row), False
            row.number = reference("INC", row.id)
            s.add(TicketEvent(ticket_id=row.id, actor=actor, kind="created", to_state="new", text=priority))
            if resolve_as:
                self._transition(s, row, "resolved", actor, resolution_notes or "")
                row.resolution_code = resolve_as
                row.resolution_notes = redact_text(resolution_notes or "")
            s.commit()
            return self._record(s, row), True

    def comment(self, number: str, user: User, text: str) -> TicketRecord:
        """The caller (or staff) adds a comment; closed and cancelled tickets take no more comments."""
        with self.db.session() as s:
            row = self._visible(s, number, user)
            if row.state in ("closed", "cancelled"):
                raise TicketStateError(f"{number} is {row.state}", user_message=f"{number} is {row.state}, so "
                                       "it can't take comments; I can open a new ticket instead.")
            kind = "work_note" if user.id != row.caller_id else "comment"
            s.add(TicketEvent(ticket_id=row.id, actor=user.id, kind=kind, text=redact_text(text)[:4000]))
            row.updated_at = utcnow()
            s.commit()
            return self._record(s, row)

    def reopen(self, number: str, user: User, reason: str) -> TicketRecord:
        with self.db.session() as s:
            row = self._visible(s, number, user)
            if row.state in OPEN_STATES:
                return self._record(s, row)  # already open: reopening again changes nothing
            if row.state != "resolved":
                raise TicketStateError(f"{number} is {row.state}", user_message=f"{number} is {row.state} and "
                                       "can't be reopened; I can open a new ticket that refers to it.")
            if row.resolved_at and utcnow() - _aware(row.resolved_at) > REOPEN_WINDOW:
                raise TicketStateError(f"{number} resolved too long ago", user_message=f"{number} was resolved "
                                       "more than 10 days ago, so it can't be reopened; I can open a new ticket.")
            self._transition(s, row, "in_progress", user.id, f"Reopened by caller: {reason}")
            row.resolution_code = row.resolution_notes = None
            row.resolved_at = None
            s.commit()
            return self._record(s, row)

    def cancel(self, number: str, user: User, reason: str = "") -> TicketRecord:
        with self.db.session() as s:
            row = self._visible(s, number, user)
            if row.state == "cancelled":
                return self._record(s, row)
            if row.state not in OPEN_STATES:
                raise TicketStateError(f"{number} is {row.state}", user_message=f"{number} is already "
                                       f"{row.state.replace('_', ' ')}, so there is nothing to cancel.")
            self._transition(s, row, "cancelled", user.id, reason or "Cancelled by caller")
            row.resolution_code = "cancelled-by-caller"
            s.commit()
            return self._record(s, row)

    def set_state(self, number: str, user: User, state: str, note: str = "", *,
                  resolution_code: str | None = None) -> TicketRecord:
        """Staff move a ticket through its life cycle (work queue, CLI)."""
        with self.db.session() as s:
            row = self._visible(s, number, user)
            if not user.has_role("it_agent"):
                raise TicketStateError("only IT staff change ticket states")
            if row.state != state:
                self._transition(s, row, state, user.id, note)
            if state == "resolved":
                row.resolution_code = resolution_code or "solved"
                row.resolution_notes = redact_text(note)
            s.commit()
            return self._record(s, row)

    def escalate_to_vendor(self, number: str, actor: str, *, vendor_id: str, sla_hours: int) -> TicketRecord:
        """Record a vendor escalation (vendor, our reference to them, the SLA due time). Idempotent."""
        with self.db.session() as s:
            row = s.scalars(select(Ticket).where(Ticket.number == number)).first()
            if row is None:
                raise TicketNotFound(number)
            if row.vendor_id == vendor_id and row.vendor_reference:
                return self._record(s, row)
            now = utcnow()
            row.vendor_id = vendor_id
            row.vendor_reference = f"{vendor_id.upper()}-{number}"
            row.vendor_due_at = now + timedelta(hours=sla_hours)
            s.add(TicketEvent(ticket_id=row.id, actor=actor, kind="vendor", text=(
                f"Escalated to vendor {vendor_id}, reference {row.vendor_reference}, SLA {sla_hours} h")))
            if row.state == "new":
                self._transition(s, row, "on_hold", actor, "Awaiting vendor")
            row.updated_at = now
            s.commit()
            return self._record(s, row)

    def vendor_update(self, number: str, actor: str, text: str, *, vendor_reference: str | None = None) -> TicketRecord:
        """Staff record what the vendor said (and the vendor's own case number once they give one)."""
        with self.db.session() as s:
            row = s.scalars(select(Ticket).where(Ticket.number == number)).first()
            if row is None or not row.vendor_id:
                raise TicketNotFound(number)
            if vendor_reference:
                row.vendor_reference = vendor_reference
            s.add(TicketEvent(ticket_id=row.id, actor=actor, kind="vendor", text=redact_text(text)))
            row.updated_at = utcnow()
            s.commit()
            return self._record(s, row)

    # -- reads --------------------------------------------------------------------------------------------
    def get(self, number: str, user: User) -> TicketRecord:
        """A ticket the user may see; anything else (someone else's, unknown) is simply "not found"."""
        with self.db.session() as s:
            return self._record(s, self._visible(s, number, user), history=True)

    def mine(self, user: User, *, open_only: bool = False) -> list[TicketRecord]:
        with self.db.session() as s:
            q = select(Ticket).where(Ticket.caller_id == user.id).order_by(Ticket.id.desc())
            if open_only:
                q = q.where(Ticket.state.in_(OPEN_STATES))
            return [self._record(s, r) for r in s.scalars(q)]

    def queue(self, user: User, *, open_only: bool = True) -> list[TicketRecord]:
        """IT staff: the tickets of the support groups they belong to."""
        with self.db.session() as s:
            groups = _groups(s, user)
            if not groups:
                return []
            q = select(Ticket).where(Ticket.assignment_group.in_(groups)).order_by(Ticket.priority, Ticket.id)
            if open_only:
                q = q.where(Ticket.state.in_(OPEN_STATES))
            return [self._record(s, r) for r in s.scalars(q)]

    def count(self, *, resolution_code: str | None = None) -> int:
        with self.db.session() as s:
            q = select(Ticket.id)
            if resolution_code:
                q = q.where(Ticket.resolution_code == resolution_code)
            return len(s.scalars(q).all())

    # -- internals ----------------------------------------------------------------------------------------
    def _visible(self, s, number: str, user: User) -> Ticket:
        row = s.scalars(select(Ticket).where(Ticket.number == number.strip().upper())).first()
        if row is None:
            raise TicketNotFound(number)
        if row.caller_id == user.id:
            return row
        if user.has_role("it_agent") and row.assignment_group in _groups(s, user):
            return row
        error = TicketNotFound(number)  # never reveal to the user that someone else's ticket exists
        error.denied = True
        raise error

    @staticmethod
    def _transition(s, row: Ticket, to: str, actor: str, note: str) -> None:
        if to not in TRANSITIONS[row.state]:
            raise TicketStateError(f"{row.number}: {row.state} → {to} is not allowed")
        now = utcnow()
        s.add(TicketEvent(ticket_id=row.id, actor=actor, kind="state", from_state=row.state, to_state=to,
                          text=redact_text(note)[:4000]))
        row.state = to
        row.updated_at = now
        if to == "resolved":
            row.resolved_at = now
        if to in ("closed", "cancelled"):
            row.closed_at = now

    @staticmethod
    def _record(s, row: Ticket, *, history: bool = False) -> TicketRecord:
        events: tuple[TicketEventRecord, ...] = ()
        if history:
            q = select(TicketEvent).where(TicketEvent.ticket_id == row.id).order_by(TicketEvent.id)
            events = tuple(
                TicketEventRecord(_aware(e.ts), e.actor, e.kind, e.from_state, e.to_state, e.text) for e in s.scalars(q)
            )
        return TicketRecord(
            row.number, row.caller_id, row.short_description, row.description, row.category, row.subcategory,
            row.configuration_item, row.impact, row.urgency, row.priority, row.assignment_group, row.state,
            row.resolution_code, row.resolution_notes, row.vendor_id, row.vendor_reference,
            _aware(row.vendor_due_at) if row.vendor_due_at else None, _aware(row.created_at),
            _aware(row.updated_at), _aware(row.resolved_at) if row.resolved_at else None, row.thread_id, events,
        )


def _groups(s, user: User) -> list[str]:
    return list(s.scalars(select(GroupMember.group_id).where(GroupMember.user_id == user.id)))


def _aware(ts: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    from datetime import UTC

    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
