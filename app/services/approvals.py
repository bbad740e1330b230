"""Approvals: requests that wait for an authorised person (IT staff, HR, a manager) to approve or reject.

Used wherever the bot must not act alone — an action on another person's account, a leave request, a
workflow task. The waiting is a row here, not a paused graph: the conversation reads it when it next runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select

from app.db.engine import Database
from app.db.schema import Approval, utcnow
from app.errors import AccessDenied
from app.identity import User
from app.redaction import redact_obj, redact_text
from app.services.hr_records import insert_once, reference

STATES = ("pending", "approved", "rejected", "cancelled")


@dataclass(frozen=True)
class ApprovalRecord:
    reference: str
    kind: str
    subject_id: str | None
    requested_by: str
    approver_role: str | None
    approver_id: str | None
    payload: dict
    reason: str
    state: str
    decided_by: str | None
    decision_note: str | None
    created_at: datetime
    decided_at: datetime | None


class Approvals(Protocol):
    def request(self, *, kind: str, requested_by: str, idempotency_key: str, subject_id: str | None = None,
                approver_role: str | None = None, approver_id: str | None = None, payload: dict | None = None,
                reason: str = "") -> tuple[ApprovalRecord, bool]: ...
    def decide(self, reference: str, decider: User, *, approve: bool, note: str = "") -> ApprovalRecord: ...
    def get(self, reference: str) -> ApprovalRecord | None: ...
    def cancel(self, reference: str) -> ApprovalRecord | None: ...
    def pending_for(self, user: User) -> list[ApprovalRecord]: ...


def _by_reference(s, reference: str) -> Approval | None:
    return s.scalars(select(Approval).where(Approval.reference == reference.strip().upper())).first()


class SqlApprovals:
    def __init__(self, db: Database):
        self.db = db

    def request(
        self,
        *,
        kind: str,
        requested_by: str,
        idempotency_key: str,
        subject_id: str | None = None,
        approver_role: str | None = None,
        approver_id: str | None = None,
        payload: dict | None = None,
        reason: str = "",
    ) -> tuple[ApprovalRecord, bool]:
        """Record a pending approval; a retry with the same key returns the first record."""
        if not (approver_role or approver_id):
            raise ValueError("an approval needs an approver role or an approver")
        by_key = select(Approval).where(Approval.idempotency_key == idempotency_key)
        with self.db.session() as s:
            existing = s.scalars(by_key).first()
            if existing is not None:
                return _record(existing), False
            row = Approval(
                reference="pending", idempotency_key=idempotency_key, kind=kind, subject_id=subject_id,
                requested_by=requested_by, approver_role=approver_role, approver_id=approver_id,
                payload=redact_obj(payload or {}), reason=redact_text(reason),
            )
            row, created = insert_once(s, row, Approval, idempotency_key)
            if not created:  # a concurrent retry won the race: return its record
                return _record(row), False
            row.reference = reference("APR", row.id)
            s.commit()
            return _record(row), True

    def may_decide(self, row: Approval | ApprovalRecord, user: User) -> bool:
        if user.id == row.requested_by:
            return False  # nobody approves their own request
        if row.approver_id:
            return user.id == row.approver_id
        return bool(row.approver_role and user.has_role(row.approver_role))

    def decide(self, reference: str, decider: User, *, approve: bool, note: str = "") -> ApprovalRecord:
        with self.db.session() as s:
            row = _by_reference(s, reference)
            if row is None or not self.may_decide(row, decider):
                raise AccessDenied(f"{decider.id} may not decide {reference}")
            if row.state != "pending":
                return _record(row)  # already decided: deciding again changes nothing
            row.state = "approved" if approve else "rejected"
            row.decided_by = decider.id
            row.decision_note = redact_text(note)
            row.decided_at = utcnow()
            s.commit()
            return _record(row)

    def get(self, reference: str) -> ApprovalRecord | None:
        with self.db.session() as s:
            row = _by_reference(s, reference)
            return _record(row) if row else None

    def cancel(self, reference: str) -> ApprovalRecord | None:
        """Withdraw a pending request (its process ended another way); decided ones stay as they are."""
        with self.db.session() as s:
            row = _by_reference(s, reference)
            if row is None:
                return None
            if row.state == "pending":
                row.state = "cancelled"
                row.decided_at = utcnow()
                s.commit()
            return _record(row)

    def pending_for(self, user: User) -> list[ApprovalRecord]:
        with self.db.session() as s:
            rows = s.scalars(select(Approval).where(Approval.state == "pending").order_by(Approval.id))
            return [_record(r) for r in rows if self.may_decide(r, user)]

    def requested_by(self, user_id: str, *, kind: str | None = None) -> list[ApprovalRecord]:
        with self.db.session() as s:
            q = select(Approval).where(Approval.requested_by == user_id).order_by(Approval.id.desc())
            if kind:
                q = q.where(Approval.kind == kind)
            return [_record(r) for r in s.scalars(q)]


def _record(row: Approval) -> ApprovalRecord:
    return ApprovalRecord(
        row.reference, row.kind, row.subject_id, row.requested_by, row.approver_role, row.approver_id,
        dict(row.payload or {}), row.reason, row.state, row.decided_by, row.decision_note, row.created_at,
        row.decided_at,
    )
