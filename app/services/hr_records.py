"""HR records of joiners and leavers, their benefit enrolments and notices to payroll.

This is one of the provisioning systems a workflow engine calls for onboarding and offboarding (with
``assets``, ``facilities``, ``training`` and ``mailboxes``). They share one contract, implemented by the
helpers at the bottom of this module:

* Every write takes an idempotency key. A retried call with the same key returns the first result and
  changes nothing. Creations keep their key on their own row (a unique column); every other keyed state
  change — an undo, a leaving date, a return request — is claimed in the ``provisioning_actions`` ledger,
  so a late retry cannot redo something that has since been undone. A key reused for a different action or
  person is refused (``IdempotencyKeyReused``).
* Every write has a compensation (its undo, used for rollback), itself keyed and idempotent. It returns
  whether it changed anything: ``False`` when there was nothing to undo or the key was already used.
* ``live_records(person_id)`` lists what is still in force for a person (nothing cancelled, withdrawn or
  undone), so a test or the engine can check that a rollback left nothing behind.

A record's status follows its dates: ``pending_start`` becomes ``active`` on the start date and ``leaving``
becomes ``left`` the day after the last day (reported as such; the stored status catches up on the next write).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.schema import BenefitEnrolmentRow, HrRecordRow, PayrollNoticeRow, ProvisioningAction, utcnow
from app.errors import ConciergeError
from app.redaction import redact_text

SERVICE = "hr"
EMPLOYMENT_TYPES = ("employee", "contractor", "intern")
STATUSES = ("pending_start", "active", "leaving", "left", "cancelled")
PAYROLL_KINDS = ("final_pay", "new_starter")


# -- errors shared by the provisioning services ------------------------------------------------------------
class ProvisioningError(ConciergeError):
    code = "provisioning"


class ProvisioningNotFound(ProvisioningError):
    code = "provisioning_not_found"
    user_message = "I can't find that record."


class ProvisioningStateError(ProvisioningError):
    """The change is not possible in the record's current state (or would duplicate a live record)."""

    code = "provisioning_state"


class IdempotencyKeyReused(ProvisioningError):
    """The key was used before for a different action or person: a caller bug, never a retry."""

    code = "idempotency_key_reused"


# -- records ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HrRecord:
    person_id: str
    full_name: str
    department: str
    title: str
    manager_id: str | None
    employment_type: str
    start_date: date
    location: str
    status: str
    last_day: date | None
    leaving_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class BenefitEnrolment:
    reference: str  # BEN + 7 digits
    person_id: str
    plans: tuple[str, ...]
    status: str  # enrolled | cancelled
    created_at: datetime
    cancelled_at: datetime | None


@dataclass(frozen=True)
class PayrollNotice:
    reference: str  # PAY + 7 digits
    person_id: str
    kind: str  # final_pay | new_starter
    effective_date: date  # the start date (new starter) or the last day (final pay)
    status: str  # sent | withdrawn
    created_at: datetime
    withdrawn_at: datetime | None


class HrRecords(Protocol):
    def create_record(self, *, person_id: str, full_name: str, department: str, title: str,
                      manager_id: str | None, employment_type: str, start_date: date, location: str,
                      idempotency_key: str) -> HrRecord: ...
    def cancel_record(self, person_id: str, *, idempotency_key: str) -> bool: ...
    def set_leaving(self, person_id: str, *, last_day: date, reason: str, idempotency_key: str) -> HrRecord: ...
    def undo_leaving(self, person_id: str, *, idempotency_key: str) -> bool: ...
    def get(self, person_id: str) -> HrRecord | None: ...
    def find(self, name_query: str) -> list[HrRecord]: ...
    def enrol_benefits(self, person_id: str, plans: list[str], *, idempotency_key: str) -> BenefitEnrolment: ...
    def cancel_benefits(self, person_id: str, *, idempotency_key: str) -> bool: ...
    def notify_payroll(self, person_id: str, *, kind: str, idempotency_key: str) -> PayrollNotice: ...
    def withdraw_payroll_notice(self, person_id: str, *, idempotency_key: str, kind: str | None = None) -> bool: ...
    def live_records(self, person_id: str) -> list[HrRecord | BenefitEnrolment | PayrollNotice]: ...


class SqlHrRecords:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.clock = clock  # "today" for date-driven statuses; tests move it

    def _today(self) -> date:
        return self.clock().date()

    # -- the HR record ------------------------------------------------------------------------------------
    def create_record(
        self,
        *,
        person_id: str,
        full_name: str,
        department: str,
        title: str,
        manager_id: str | None,
        employment_type: str,
        start_date: date,
        location: str,
        idempotency_key: str,
    ) -> HrRecord:
        """Record a joiner. A person may have only one record that is neither cancelled nor left."""
        pid = person_key(person_id)
        if employment_type not in EMPLOYMENT_TYPES:
            raise ValueError(f"employment_type is one of {', '.join(EMPLOYMENT_TYPES)}")
        if not full_name.strip():
            raise ValueError("full_name is required")
        today = self._today()
        with self.db.session() as s:
            existing = first_by_key(s, HrRecordRow, idempotency_key, pid)
            if existing is not None:
                return self._record(existing)
            live = self._live_row(s, pid)
            if live is not None and _status(live, today) != "left":
                raise ProvisioningStateError(f"{pid} already has an HR record ({_status(live, today)})")
            now = utcnow()
            name = " ".join(full_name.split())
            row = HrRecordRow(
                idempotency_key=idempotency_key, person_id=pid, full_name=name, name_search=name.casefold(),
                department=department.strip(), title=title.strip(),
                manager_id=person_key(manager_id) if manager_id else None, employment_type=employment_type,
                start_date=start_date, location=location.strip(),
                status="active" if start_date <= today else "pending_start", created_at=now, updated_at=now,
            )
            row, created = insert_once(s, row, HrRecordRow, idempotency_key)
            if created:
                s.commit()
            return self._record(row)

    def cancel_record(self, person_id: str, *, idempotency_key: str) -> bool:
        """Undo ``create_record``: the joiner's record becomes ``cancelled``. Refused once they are leaving."""
        pid = person_key(person_id)
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, "cancel_record", pid, idempotency_key)
            if not fresh:
                return False
            row = self._live_row(s, pid)
            if row is not None:
                status = _status(row, self._today())
                if status in ("leaving", "left"):
                    raise ProvisioningStateError(f"{pid} is {status}; undo the leaving instead of cancelling")
                row.status = "cancelled"
                row.cancelled_at = row.updated_at = utcnow()
                entry.changed = True
            s.commit()
            return entry.changed

    def set_leaving(self, person_id: str, *, last_day: date, reason: str, idempotency_key: str) -> HrRecord:
        """Record a leaver's last day (a new key on a leaver corrects the date). Undone by ``undo_leaving``."""
        pid = person_key(person_id)
        today = self._today()
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, "set_leaving", pid, idempotency_key)
            if not fresh:  # a retry: the record as it is now (the leaving may since have been undone)
                latest = s.scalars(select(HrRecordRow).where(HrRecordRow.person_id == pid)
                                   .order_by(HrRecordRow.id.desc())).first()
                return self._record(latest)
            row = self._require_record(s, pid)
            status = _status(row, today)
            if status == "pending_start":
                raise ProvisioningStateError(f"{pid} has not started yet; cancel the record instead")
            if status == "left":
                raise ProvisioningStateError(f"{pid} has already left")
            if last_day < row.start_date:
                raise ValueError("the last day is before the start date")
            row.last_day = last_day
            row.leaving_reason = redact_text(reason)[:2000]
            row.status = "leaving" if last_day >= today else "left"
            row.updated_at = utcnow()
            entry.changed = True
            entry.detail = {"last_day": last_day.isoformat()}
            s.commit()
            return self._record(row)

    def undo_leaving(self, person_id: str, *, idempotency_key: str) -> bool:
        """Undo ``set_leaving``: the record is active again, with no last day or reason."""
        pid = person_key(person_id)
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, "undo_leaving", pid, idempotency_key)
            if not fresh:
                return False
            row = self._live_row(s, pid)
            if row is not None and row.status in ("leaving", "left"):
                row.status = "active"
                row.last_day = row.leaving_reason = None
                row.updated_at = utcnow()
                entry.changed = True
            s.commit()
            return entry.changed

    def get(self, person_id: str) -> HrRecord | None:
        """The person's newest record, whatever its status."""
        with self.db.session() as s:
            q = select(HrRecordRow).where(HrRecordRow.person_id == person_key(person_id))
            row = s.scalars(q.order_by(HrRecordRow.id.desc())).first()
            return self._record(row) if row else None

    def find(self, name_query: str) -> list[HrRecord]:
        """Records (not cancelled) whose full name contains every word of the query, in any case."""
        words = name_query.casefold().split()
        if not words:
            return []
        with self.db.session() as s:
            q = select(HrRecordRow).where(HrRecordRow.status != "cancelled")
            for word in words:
                q = q.where(HrRecordRow.name_search.contains(word, autoescape=True))
            return [self._record(r) for r in s.scalars(q.order_by(HrRecordRow.full_name, HrRecordRow.id))]

    # -- benefits -----------------------------------------------------------------------------------------
    def enrol_benefits(self, person_id: str, plans: list[str], *, idempotency_key: str) -> BenefitEnrolment:
        """Enrol a person with an HR record in benefit plans (one live enrolment per person)."""
        pid = person_key(person_id)
        plan_list = clean_list(plans, "plans")
        with self.db.session() as s:
            existing = first_by_key(s, BenefitEnrolmentRow, idempotency_key, pid)
            if existing is not None:
                return _benefit(existing)
            self._require_record(s, pid)
            if s.scalars(_live_benefits(pid)).first() is not None:
                raise ProvisioningStateError(f"{pid} is already enrolled in benefits")
            row = BenefitEnrolmentRow(idempotency_key=idempotency_key, person_id=pid, plans=plan_list,
                                      status="enrolled", created_at=utcnow())
            row, created = insert_once(s, row, BenefitEnrolmentRow, idempotency_key)
            if created:
                s.commit()
            return _benefit(row)

    def cancel_benefits(self, person_id: str, *, idempotency_key: str) -> bool:
        """Undo ``enrol_benefits``: every live enrolment of the person is cancelled."""
        pid = person_key(person_id)
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, "cancel_benefits", pid, idempotency_key)
            if not fresh:
                return False
            now = utcnow()
            for row in s.scalars(_live_benefits(pid)):
                row.status, row.cancelled_at = "cancelled", now
                entry.changed = True
            s.commit()
            return entry.changed

    def benefits_of(self, person_id: str) -> list[BenefitEnrolment]:
        """Every enrolment of the person, oldest first, cancelled ones included."""
        with self.db.session() as s:
            q = select(BenefitEnrolmentRow).where(BenefitEnrolmentRow.person_id == person_key(person_id))
            return [_benefit(r) for r in s.scalars(q.order_by(BenefitEnrolmentRow.id))]

    # -- payroll ------------------------------------------------------------------------------------------
    def notify_payroll(self, person_id: str, *, kind: str, idempotency_key: str) -> PayrollNotice:
        """Tell payroll about a new starter (from the start date) or a leaver's final pay (the last day)."""
        if kind not in PAYROLL_KINDS:
            raise ValueError(f"kind is one of {', '.join(PAYROLL_KINDS)}")
        pid = person_key(person_id)
        with self.db.session() as s:
            existing = first_by_key(s, PayrollNoticeRow, idempotency_key, pid)
            if existing is not None:
                return _notice(existing)
            record = self._require_record(s, pid)
            if kind == "final_pay" and record.last_day is None:
                raise ProvisioningStateError(f"{pid} has no last day; set the leaving date first")
            if s.scalars(_live_notices(pid, kind)).first() is not None:
                raise ProvisioningStateError(f"payroll already has a {kind} notice for {pid}")
            effective = record.last_day if kind == "final_pay" else record.start_date
            row = PayrollNoticeRow(idempotency_key=idempotency_key, person_id=pid, kind=kind,
                                   effective_date=effective, status="sent", created_at=utcnow())
            row, created = insert_once(s, row, PayrollNoticeRow, idempotency_key)
            if created:
                s.commit()
            return _notice(row)

    def withdraw_payroll_notice(self, person_id: str, *, idempotency_key: str, kind: str | None = None) -> bool:
        """Undo ``notify_payroll``: the person's live notices (of ``kind``, if given) are withdrawn."""
        if kind is not None and kind not in PAYROLL_KINDS:
            raise ValueError(f"kind is one of {', '.join(PAYROLL_KINDS)}")
        pid = person_key(person_id)
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, "withdraw_payroll_notice", pid, idempotency_key)
            if not fresh:
                return False
            now = utcnow()
            for row in s.scalars(_live_notices(pid, kind)):
                row.status, row.withdrawn_at = "withdrawn", now
                entry.changed = True
            s.commit()
            return entry.changed

    def payroll_notices_of(self, person_id: str) -> list[PayrollNotice]:
        with self.db.session() as s:
            q = select(PayrollNoticeRow).where(PayrollNoticeRow.person_id == person_key(person_id))
            return [_notice(r) for r in s.scalars(q.order_by(PayrollNoticeRow.id))]

    # -- leftovers ----------------------------------------------------------------------------------------
    def live_records(self, person_id: str) -> list[HrRecord | BenefitEnrolment | PayrollNotice]:
        """What is in force for the person: records not cancelled, benefits enrolled, notices not withdrawn."""
        pid = person_key(person_id)
        with self.db.session() as s:
            q = select(HrRecordRow).where(HrRecordRow.person_id == pid, HrRecordRow.status != "cancelled")
            out: list[HrRecord | BenefitEnrolment | PayrollNotice] = [
                self._record(r) for r in s.scalars(q.order_by(HrRecordRow.id))
            ]
            out += [_benefit(r) for r in s.scalars(_live_benefits(pid).order_by(BenefitEnrolmentRow.id))]
            out += [_notice(r) for r in s.scalars(_live_notices(pid).order_by(PayrollNoticeRow.id))]
            return out

    # -- internals ----------------------------------------------------------------------------------------
    @staticmethod
    def _live_row(s: Session, pid: str) -> HrRecordRow | None:
        q = select(HrRecordRow).where(HrRecordRow.person_id == pid, HrRecordRow.status != "cancelled")
        return s.scalars(q.order_by(HrRecordRow.id.desc())).first()

    def _require_record(self, s: Session, pid: str) -> HrRecordRow:
        row = self._live_row(s, pid)
        if row is None:
            raise ProvisioningNotFound(f"no HR record for {pid}")
        return row

    def _record(self, row: HrRecordRow) -> HrRecord:
        return HrRecord(
            row.person_id, row.full_name, row.department, row.title, row.manager_id, row.employment_type,
            row.start_date, row.location, _status(row, self._today()), row.last_day, row.leaving_reason,
            aware(row.created_at), aware(row.updated_at),
        )


def _status(row: HrRecordRow, today: date) -> str:
    """The status as of ``today``: starters become active on their start date, leavers left after the last day."""
    if row.status == "pending_start" and row.start_date <= today:
        return "active"
    if row.status == "leaving" and row.last_day is not None and row.last_day < today:
        return "left"
    return row.status


def _live_benefits(pid: str):
    return select(BenefitEnrolmentRow).where(BenefitEnrolmentRow.person_id == pid,
                                             BenefitEnrolmentRow.status == "enrolled")


def _live_notices(pid: str, kind: str | None = None):
    q = select(PayrollNoticeRow).where(PayrollNoticeRow.person_id == pid, PayrollNoticeRow.status == "sent")
    return q.where(PayrollNoticeRow.kind == kind) if kind else q


def _benefit(row: BenefitEnrolmentRow) -> BenefitEnrolment:
    return BenefitEnrolment(reference("BEN", row.id), row.person_id, tuple(row.plans or ()), row.status,
                            aware(row.created_at), aware_or_none(row.cancelled_at))


def _notice(row: PayrollNoticeRow) -> PayrollNotice:
    return PayrollNotice(reference("PAY", row.id), row.person_id, row.kind, row.effective_date, row.status,
                         aware(row.created_at), aware_or_none(row.withdrawn_at))


# -- helpers shared by the provisioning services (assets, facilities, training, mailboxes) --------------------
def person_key(person_id: str) -> str:
    """Person ids are directory user ids: trimmed and lower-case."""
    pid = (person_id or "").strip().lower()
    if not pid:
        raise ValueError("a person id is required")
    return pid


def reference(prefix: str, row_id: int) -> str:
    return f"{prefix}{row_id:07d}"


def clean_list(values: Iterable[str], what: str) -> list[str]:
    """Trimmed, de-duplicated, order kept; at least one entry."""
    if isinstance(values, str):
        raise ValueError(f"{what} is a list of names")
    out = list(dict.fromkeys(v.strip() for v in values if v and v.strip()))
    if not out:
        raise ValueError(f"at least one entry in {what} is required")
    return out


def aware(ts: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def aware_or_none(ts: datetime | None) -> datetime | None:
    return aware(ts) if ts is not None else None


def first_by_key(s: Session, model: Any, idempotency_key: str, person_id: str) -> Any | None:
    """The row an earlier call created with this key, if any; the key must have been for the same person."""
    if not idempotency_key:
        raise ValueError("an idempotency key is required")
    row = s.scalars(select(model).where(model.idempotency_key == idempotency_key)).first()
    if row is not None and row.person_id != person_id:
        raise IdempotencyKeyReused(f"key {idempotency_key!r} was used for another person")
    return row


def insert_once(s: Session, row: Any, model: Any, idempotency_key: str) -> tuple[Any, bool]:
    """Insert a keyed row; if a concurrent call with the same key won the race, return its row instead."""
    s.add(row)
    try:
        s.flush()
    except IntegrityError:
        s.rollback()
        return s.scalars(select(model).where(model.idempotency_key == idempotency_key)).one(), False
    return row, True


def claim_action(s: Session, service: str, action: str, person_id: str, idempotency_key: str
                 ) -> tuple[ProvisioningAction, bool]:
    """Claim a key for one state change, inside the caller's transaction.

    Returns ``(entry, True)`` for a new key: the caller makes its change, sets ``entry.changed`` (and
    ``entry.detail``) and commits — if it raises instead, the claim is rolled back with the change. Returns
    ``(earlier entry, False)`` for a key already used: the caller changes nothing.
    """
    if not idempotency_key:
        raise ValueError("an idempotency key is required")
    by_key = select(ProvisioningAction).where(ProvisioningAction.service == service,
                                              ProvisioningAction.idempotency_key == idempotency_key)
    entry = s.scalars(by_key).first()
    if entry is None:
        entry = ProvisioningAction(service=service, idempotency_key=idempotency_key, action=action,
                                   person_id=person_id, changed=False, detail={}, created_at=utcnow())
        s.add(entry)
        try:
            s.flush()
            return entry, True
        except IntegrityError:  # a concurrent retry claimed it first
            s.rollback()
            entry = s.scalars(by_key).one()
    if (entry.action, entry.person_id) != (action, person_id):
        raise IdempotencyKeyReused(f"key {idempotency_key!r} was used for {entry.action} of {entry.person_id}")
    return entry, False
