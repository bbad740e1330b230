"""The HR leave system of record: leave types and rules, balances per year, requests, public holidays.

Rules come from ``app/catalog/leave_types.yaml`` (which names the knowledge-base article behind each rule);
public holidays are read from the knowledge-base articles themselves, so the calendar and the answers never
disagree. Balances are computed from entitlement, carry-over and requests, so cancelling restores them.
Employees see their own requests; managers see their direct reports'; HR staff see everyone's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from app.db.engine import Database
from app.db.schema import LeaveBalance, LeaveRequest, utcnow
from app.errors import AccessDenied, ConciergeError
from app.identity import User
from app.redaction import redact_text
from app.services.hr_records import insert_once, reference

CATALOG = Path(__file__).resolve().parent.parent / "catalog" / "leave_types.yaml"
KB_DOCS = Path(__file__).resolve().parent.parent.parent / "knowledge" / "docs"
OPEN_STATES = ("pending", "approved")
_HOLIDAY_ROW = re.compile(r"^\|\s*(\d{1,2} [A-Z][a-z]+ \d{4})\s*\|\s*\w+\s*\|\s*([^|]+?)\s*\|", re.M)


class LeaveError(ConciergeError):
    code = "leave"


@dataclass(frozen=True)
class LeaveType:
    code: str
    name: str
    article: str
    approval: str  # manager | none | hr
    entitlement: float | None = None
    carry_over_cap: float = 0
    notice: dict | None = None
    evidence: dict | None = None
    half_days: bool = True


@dataclass(frozen=True)
class Request:
    reference: str
    person_id: str
    leave_type: str
    start: date
    end: date
    start_half: str  # full | am | pm
    end_half: str
    days: float
    state: str  # pending | approved | rejected | cancelled
    approver_id: str | None
    decided_by: str | None
    decision_note: str | None
    approval_ref: str | None
    reason: str
    notified: bool
    created_at: datetime


@dataclass(frozen=True)
class Balance:
    leave_type: str
    year: int
    entitlement: float
    carried_over: float
    taken: float  # approved, already started
    booked: float  # approved, in the future
    pending: float

    @property
    def remaining(self) -> float:
        return self.entitlement + self.carried_over - self.taken - self.booked - self.pending


@lru_cache(maxsize=4)
def leave_types(path: Path = CATALOG) -> dict[str, LeaveType]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = {}
    for code, t in (data.get("types") or {}).items():
        out[code] = LeaveType(code, t["name"], t["article"], t.get("approval", "manager"), t.get("entitlement"),
                              float(t.get("carry_over_cap", 0)), t.get("notice"), t.get("evidence"),
                              bool(t.get("half_days", True)))
    return out


def region(location: str | None) -> str:
    return "berlin" if (location or "").lower() == "berlin" else "uk"


@lru_cache(maxsize=4)
def public_holidays(area: str, docs: Path = KB_DOCS) -> dict[date, str]:
    """The public-holiday calendar, read from the knowledge-base article for the area."""
    path = docs / f"hr-public-holidays-{area}.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    out = {}
    for day, name in _HOLIDAY_ROW.findall(text):
        out[datetime.strptime(day, "%d %B %Y").date()] = name
    return out


def working_days(start: date, end: date, area: str, start_half: str = "full", end_half: str = "full"
                 ) -> tuple[float, list[tuple[date, str]]]:
    """Working days in [start, end] (weekends and public holidays excluded), and the holidays skipped."""
    holidays = public_holidays(area)
    days, skipped = 0.0, []
    d = start
    while d <= end:
        if d.weekday() < 5:
            if d in holidays:
                skipped.append((d, holidays[d]))
            else:
                days += 1
        d += timedelta(days=1)
    if days and start_half in ("am", "pm") and start.weekday() < 5 and start not in holidays:
        days -= 0.5
    if days and end != start and end_half == "am" and end.weekday() < 5 and end not in holidays:
        days -= 0.5
    return days, skipped


class SqlLeave:
    def __init__(self, db: Database, clock=utcnow):
        self.db = db
        self.clock = clock

    # -- balances -----------------------------------------------------------------------------------------
    def balance(self, person_id: str, leave_type: str = "annual", year: int | None = None) -> Balance:
        year = year or self.clock().year
        today = self.clock().date()
        lt = leave_types()[leave_type]
        with self.db.session() as s:
            row = s.get(LeaveBalance, (person_id, year, leave_type))
            entitlement = float(row.entitlement) if row else float(lt.entitlement or 0)
            carried = float(row.carried_over) if row else 0.0
            requests = s.scalars(select(LeaveRequest).where(
                LeaveRequest.person_id == person_id, LeaveRequest.leave_type == leave_type,
                LeaveRequest.state.in_(OPEN_STATES))).all()
        taken = booked = pending = 0.0
        for r in requests:
            if r.start_date.year != year:
                continue
            if r.state == "pending":
                pending += r.days
            elif r.start_date <= today:
                taken += r.days
            else:
                booked += r.days
        return Balance(leave_type, year, entitlement, carried, taken, booked, pending)

    def set_balance(self, person_id: str, year: int, leave_type: str, *, entitlement: float,
                    carried_over: float = 0) -> None:
        with self.db.session() as s:
            row = s.get(LeaveBalance, (person_id, year, leave_type))
            if row is None:
                s.add(LeaveBalance(person_id=person_id, year=year, leave_type=leave_type, entitlement=entitlement,
                                   carried_over=carried_over))
            else:
                row.entitlement, row.carried_over = entitlement, carried_over
            s.commit()

    # -- requests -----------------------------------------------------------------------------------------
    def overlapping(self, person_id: str, start: date, end: date) -> list[Request]:
        with self.db.session() as s:
            rows = s.scalars(select(LeaveRequest).where(
                LeaveRequest.person_id == person_id, LeaveRequest.state.in_(OPEN_STATES),
                LeaveRequest.start_date <= end, LeaveRequest.end_date >= start)).all()
            return [_request(r) for r in rows]

    def create(self, *, person_id: str, leave_type: str, start: date, end: date, days: float,
               start_half: str = "full", end_half: str = "full", approver_id: str | None, reason: str = "",
               idempotency_key: str, state: str = "pending") -> tuple[Request, bool]:
        by_key = select(LeaveRequest).where(LeaveRequest.idempotency_key == idempotency_key)
        with self.db.session() as s:
            existing = s.scalars(by_key).first()
            if existing is not None:
                return _request(existing), False
            row = LeaveRequest(reference="pending", idempotency_key=idempotency_key, person_id=person_id,
                               leave_type=leave_type, start_date=start, end_date=end, start_half=start_half,
                               end_half=end_half, days=days, state=state, approver_id=approver_id,
                               reason=redact_text(reason)[:500], notified=state != "pending")
            row, created = insert_once(s, row, LeaveRequest, idempotency_key)
            if not created:  # a concurrent retry won the race: return its record
                return _request(row), False
            row.reference = reference("LV", row.id)
            s.commit()
            return _request(row), True

    def attach_approval(self, reference: str, approval_ref: str) -> None:
        with self.db.session() as s:
            row = self._row(s, reference)
            row.approval_ref = approval_ref
            s.commit()

    def decide(self, reference: str, decider: User, *, approve: bool, note: str = "") -> Request:
        """The approver (the employee's manager) or HR decides a pending request. Deciding again changes nothing."""
        with self.db.session() as s:
            row = self._row(s, reference)
            if (decider.id != row.approver_id and not decider.has_role("hr_staff")) or decider.id == row.person_id:
                raise AccessDenied(f"{decider.id} may not decide {reference}")
            if row.state == "pending":
                row.state = "approved" if approve else "rejected"
                row.decided_by, row.decided_at = decider.id, utcnow()
                row.decision_note = redact_text(note)[:500]
                row.notified = False
                s.commit()
            return _request(row)

    def cancel(self, reference: str, user: User) -> Request:
        """The employee cancels a pending or future approved request; the balance is restored."""
        with self.db.session() as s:
            row = self._row(s, reference)
            if row.person_id != user.id:
                raise AccessDenied(f"{user.id} may not cancel {reference}")
            if row.state == "cancelled":
                return _request(row)
            if row.state not in OPEN_STATES or (row.start_date <= self.clock().date() and row.state == "approved"):
                raise LeaveError(f"{reference} is {row.state}", user_message=(
                    f"{reference} can't be cancelled here (it is {row.state} or has already started); "
                    "ask your manager or HR to change it."))
            row.state = "cancelled"
            s.commit()
            return _request(row)

    def mine(self, person_id: str, *, include_closed: bool = False) -> list[Request]:
        with self.db.session() as s:
            q = select(LeaveRequest).where(LeaveRequest.person_id == person_id).order_by(LeaveRequest.start_date)
            if not include_closed:
                q = q.where(LeaveRequest.state.in_((*OPEN_STATES, "rejected")))
            return [_request(r) for r in s.scalars(q)]

    def visible_to(self, viewer: User, person_id: str, people) -> bool:
        """Own requests; a manager's direct reports; HR staff: everyone."""
        if viewer.id == person_id or viewer.has_role("hr_staff"):
            return True
        person = people.get(person_id)
        return bool(person and person.manager_id == viewer.id)

    def for_viewer(self, viewer: User, person_id: str, people) -> list[Request]:
        if not self.visible_to(viewer, person_id, people):
            raise AccessDenied(f"{viewer.id} may not see {person_id}'s leave")
        return self.mine(person_id)

    def unnotified(self, person_id: str) -> list[Request]:
        """Decisions the employee hasn't been told about yet."""
        with self.db.session() as s:
            rows = s.scalars(select(LeaveRequest).where(
                LeaveRequest.person_id == person_id, LeaveRequest.notified.is_(False),
                LeaveRequest.state.in_(("approved", "rejected")))).all()
            return [_request(r) for r in rows]

    def mark_notified(self, references: list[str]) -> None:
        with self.db.session() as s:
            for row in s.scalars(select(LeaveRequest).where(LeaveRequest.reference.in_(references))):
                row.notified = True
            s.commit()

    def get(self, reference: str) -> Request | None:
        with self.db.session() as s:
            row = s.scalars(select(LeaveRequest).where(LeaveRequest.reference == reference.upper())).first()
            return _request(row) if row else None

    @staticmethod
    def _row(s, reference: str) -> LeaveRequest:
        row = s.scalars(select(LeaveRequest).where(LeaveRequest.reference == reference.strip().upper())).first()
        if row is None:
            raise LeaveError(reference, user_message=f"I can't find a leave request {reference} for you.")
        return row


def _request(r: LeaveRequest) -> Request:
    return Request(r.reference, r.person_id, r.leave_type, r.start_date, r.end_date, r.start_half, r.end_half,
                   float(r.days), r.state, r.approver_id, r.decided_by, r.decision_note, r.approval_ref, r.reason,
                   bool(r.notified), r.created_at)


def notice_problem(lt: LeaveType, start: date, days: float, today: date) -> dict[str, Any] | None:
    """Whether the request breaks the notice rule of its leave type: {needed, given} in calendar days."""
    rule = lt.notice or {}
    given = (start - today).days
    needed = 0
    if "multiple_of_length" in rule:
        needed = int(rule["multiple_of_length"] * days + 0.5)
        if days > rule.get("long_days", 10**6):
            needed = max(needed, int(rule["long_notice_days"]))
    elif "short_days" in rule:
        needed = int(rule["short_notice_days"] if days <= rule["short_days"] else rule["long_notice_days"])
    return {"needed": needed, "given": given} if given < needed else None
