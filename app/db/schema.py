"""ORM tables. Each later feature adds its tables here and a migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class UserRow(Base):
    """A person in the directory: identity, roles and reporting line."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"))
    manager_id: Mapped[str | None] = mapped_column(String(64))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    location: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    """Append-only record of every turn and action. Details are redacted before they are written."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_thread", "thread_id", "id"),
        Index("ix_audit_type", "event_type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(100))
    thread_id: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict] = mapped_column(JSON, default=dict)


class Conversation(Base):
    """Which user owns which thread (the LangGraph thread id); nobody else may read or continue it."""

    __tablename__ = "conversations"

    thread_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="web")
    title: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Handoff(Base):
    """A conversation queued for a person (HR or IT staff). The staff desk works from this table."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoff_queue_state", "queue", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    thread_id: Mapped[str] = mapped_column(String(100), index=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(20))  # hr | it
    priority: Mapped[str] = mapped_column(String(10), default="normal")  # low | normal | high | urgent
    reason: Mapped[str] = mapped_column(String(60))  # requested | sensitive | low_confidence | critical_incident
    summary: Mapped[str] = mapped_column(Text, default="")
    transcript: Mapped[list] = mapped_column(JSON, default=list)  # last messages, redacted
    state: Mapped[str] = mapped_column(String(20), default="waiting")  # waiting | claimed | resolved | returned
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Ticket(Base):
    """An incident in the ticket system of record. ``number`` is ``INC`` + 7 digits."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_ticket_caller_state", "caller_id", "state"),
        Index("ix_ticket_group", "assignment_group"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    caller_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str | None] = mapped_column(String(100))
    short_description: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40))
    subcategory: Mapped[str] = mapped_column(String(40), default="")
    configuration_item: Mapped[str | None] = mapped_column(String(100))
    impact: Mapped[int] = mapped_column(Integer, default=3)  # 1 high … 3 low
    urgency: Mapped[int] = mapped_column(Integer, default=3)
    priority: Mapped[str] = mapped_column(String(2))  # P1 … P4, from impact × urgency
    assignment_group: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(20), default="new")
    resolution_code: Mapped[str | None] = mapped_column(String(40))
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    vendor_id: Mapped[str | None] = mapped_column(String(60))
    vendor_reference: Mapped[str | None] = mapped_column(String(60))
    vendor_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TicketEvent(Base):
    """A ticket's history: creation, every state change, work notes, caller comments, vendor updates."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # created | state | work_note | comment | vendor
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")


class Account(Base):
    """A directory account: sign-in status, password age, MFA methods and out-of-band contacts."""

    __tablename__ = "accounts"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | locked | disabled
    status_reason: Mapped[str | None] = mapped_column(String(200))
    password_set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    mfa_methods: Mapped[list] = mapped_column(JSON, default=list)
    contacts: Mapped[dict] = mapped_column(JSON, default=dict)  # {"sms": "+44…", "email": "private@…"}
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GroupMember(Base):
    """Directory group membership (support groups, distribution lists)."""

    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class DirectoryAction(Base):
    """One directory action (unlock, reset password, reset MFA, disable, lock). The key makes retries no-ops."""

    __tablename__ = "directory_actions"
    __table_args__ = (Index("ix_diraction_target", "target_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    action: Mapped[str] = mapped_column(String(30))
    target_id: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))  # done | unchanged | refused
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Approval(Base):
    """A request that waits for an authorised person (staff, a manager) to approve or reject."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approval_state_role", "state", "approver_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(64))  # whom the action would affect
    requested_by: Mapped[str] = mapped_column(String(64), index=True)
    approver_role: Mapped[str | None] = mapped_column(String(30))
    approver_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending | approved | rejected | cancelled
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Verification(Base):
    """A one-time code sent out-of-band to prove identity. Only the code's hash is stored."""

    __tablename__ = "verifications"
    __table_args__ = (Index("ix_verification_user", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboxMessage(Base):
    """Out-of-band messages (SMS, personal e-mail). In this build they stay here; a gateway would send them."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- Provisioning: the systems a workflow engine calls for onboarding and offboarding ------------------------
# Every write is idempotent by key and has a compensation (its undo), itself idempotent. Creations keep their
# key on their own row; every other keyed state change (undo, leaving, return, badge deactivation) is claimed
# in ``provisioning_actions`` so a retry — even one arriving after a later change — does nothing.


class ProvisioningAction(Base):
    """One keyed state change made by a provisioning service; the key is unique within the service."""

    __tablename__ = "provisioning_actions"
    __table_args__ = (UniqueConstraint("service", "idempotency_key", name="uq_provisioning_action_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(20))  # hr | assets | facilities | training | mailboxes
    idempotency_key: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    changed: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HrRecordRow(Base):
    """A person's HR record (joiner or leaver). A person has at most one record that is not cancelled or left."""

    __tablename__ = "hr_records"
    __table_args__ = (Index("ix_hr_record_person", "person_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(200))
    name_search: Mapped[str] = mapped_column(String(200))  # casefolded full name, for case-insensitive search
    department: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    manager_id: Mapped[str | None] = mapped_column(String(64))
    employment_type: Mapped[str] = mapped_column(String(20))  # employee | contractor | intern
    start_date: Mapped[date] = mapped_column(Date)
    location: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))  # pending_start | active | leaving | left | cancelled
    last_day: Mapped[date | None] = mapped_column(Date)
    leaving_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BenefitEnrolmentRow(Base):
    """Benefit plans a person is enrolled in (one live enrolment per person)."""

    __tablename__ = "benefit_enrolments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    plans: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="enrolled")  # enrolled | cancelled
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PayrollNoticeRow(Base):
    """A notice to payroll: a new starter or a leaver's final pay (one live notice per person and kind)."""

    __tablename__ = "payroll_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # final_pay | new_starter
    effective_date: Mapped[date] = mapped_column(Date)  # the start date or the last day
    status: Mapped[str] = mapped_column(String(20), default="sent")  # sent | withdrawn
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AssetOrderRow(Base):
    """An equipment order for a person, by profile; its items become ``assets`` rows."""

    __tablename__ = "asset_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    profile: Mapped[str] = mapped_column(String(20))  # standard | developer | finance | remote
    items: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="placed")  # placed | cancelled
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AssetRow(Base):
    """One piece of equipment assigned to a person."""

    __tablename__ = "assets"
    __table_args__ = (Index("ix_asset_person_status", "person_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("asset_orders.id"), index=True)
    person_id: Mapped[str] = mapped_column(String(64))
    item: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="assigned")  # assigned | return_requested | cancelled
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BadgeRow(Base):
    """A building access badge (one active badge per person)."""

    __tablename__ = "badges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    location: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | deactivated
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeskAssignmentRow(Base):
    """A desk assigned to a person at a location (one assigned desk per person)."""

    __tablename__ = "desk_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    location: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="assigned")  # assigned | released
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TrainingEnrolmentRow(Base):
    """Courses a person is enrolled in, one row per enrolment request."""

    __tablename__ = "training_enrolments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    courses: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="enrolled")  # enrolled | withdrawn
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MailboxRow(Base):
    """A person's mailbox (one active mailbox per person; an address belongs to one active mailbox)."""

    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(320), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | deleted
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MailboxTransferRow(Base):
    """A leaver's mailbox and files delegated to another person, usually the manager (one live per person)."""

    __tablename__ = "mailbox_transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    to_user_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[list] = mapped_column(JSON, default=list)  # ["mailbox", "files"]
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | undone
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkflowRun(Base):
    """One execution of a workflow definition: its context and state, persisted so it survives restarts."""

    __tablename__ = "workflow_runs"
    __table_args__ = (Index("ix_wfrun_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    workflow: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    # running | waiting | completed | rolling_back | rolled_back | needs_attention
    state: Mapped[str] = mapped_column(String(20), default="running")
    subject: Mapped[str] = mapped_column(String(200), default="")  # whom it is about, e.g. the joiner's name
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    started_by: Mapped[str] = mapped_column(String(64), index=True)
    thread_id: Mapped[str | None] = mapped_column(String(100))
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkflowTask(Base):
    """A task token of a run: pending → enabled → running → waiting_approval → completed | failed | skipped |
    compensating | compensated."""

    __tablename__ = "workflow_tasks"
    __table_args__ = (UniqueConstraint("run_id", "task_id", name="uq_wftask_run_task"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("workflow_runs.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    outputs: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    approval_ref: Mapped[str | None] = mapped_column(String(20))
    seq: Mapped[int | None] = mapped_column(Integer)  # completion order, for reverse-order compensation
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LeaveBalance(Base):
    """A person's entitlement and carried-over days for one leave type and year (absent: the type's default)."""

    __tablename__ = "leave_balances"

    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    leave_type: Mapped[str] = mapped_column(String(30), primary_key=True)
    entitlement: Mapped[float] = mapped_column(Float, default=0)
    carried_over: Mapped[float] = mapped_column(Float, default=0)


class LeaveRequest(Base):
    """A leave request (or a reported sick day). ``notified`` is whether the employee has heard the decision."""

    __tablename__ = "leave_requests"
    __table_args__ = (Index("ix_leave_person_dates", "person_id", "start_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[str] = mapped_column(String(64))
    leave_type: Mapped[str] = mapped_column(String(30))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    start_half: Mapped[str] = mapped_column(String(4), default="full")  # full | am | pm
    end_half: Mapped[str] = mapped_column(String(4), default="full")
    days: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending | approved | rejected | cancelled
    approver_id: Mapped[str | None] = mapped_column(String(64), index=True)
    approval_ref: Mapped[str | None] = mapped_column(String(20))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    notified: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HandoffMessage(Base):
    """A message in a human-owned conversation: staff replies (delivered into the employee's conversation)
    and what the employee wrote while a person owned it."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    thread_id: Mapped[str] = mapped_column(String(100), index=True)
    author_id: Mapped[str] = mapped_column(String(64))
    author_name: Mapped[str] = mapped_column(String(200))
    direction: Mapped[str] = mapped_column(String(20))  # to_employee | to_staff
    text: Mapped[str] = mapped_column(Text)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
