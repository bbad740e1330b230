"""Directory accounts: sign-in status, MFA methods, out-of-band contacts, groups — and the actions on them.

``DirectoryConnector`` is the interface a real identity provider plugs into (Entra ID through Microsoft
Graph, on-premises Active Directory over LDAP, ServiceNow's user table): implement its methods and pass
the connector to ``Services``. ``SqlDirectory`` is the built-in implementation on our own database.

Every action is idempotent — the caller supplies an idempotency key and a retried call returns the first
outcome without acting again — and every action is written to the audit log.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.db.engine import Database
from app.db.schema import Account, DirectoryAction, GroupMember, OutboxMessage, utcnow
from app.services.audit import SqlAuditLog

ACTIONS = ("unlock", "reset_password", "reset_mfa", "disable", "lock", "device_lock", "create_account",
           "remove_account", "enable", "add_groups", "remove_groups")


@dataclass(frozen=True)
class AccountRecord:
    user_id: str
    status: str  # active | locked | disabled
    status_reason: str | None
    password_set_at: datetime
    must_change_password: bool
    mfa_methods: tuple[str, ...]
    contacts: dict[str, str]
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Delivery:
    """Where an action's secret (a temporary password, a registration link) goes out-of-band. It is written to
    the outbox in the same transaction as the action, so a crash can't leave a reset nobody received."""

    channel: str
    address: str
    kind: str
    body: str  # with "{secret}" where the secret goes


@dataclass(frozen=True)
class ActionResult:
    action: str
    target_id: str
    outcome: str  # done | unchanged | refused
    detail: dict = field(default_factory=dict)
    secret: str | None = field(default=None, repr=False)  # a temporary password, handed straight to delivery
    replayed: bool = False  # a retry of an action already recorded under the same key


class DirectoryConnector(Protocol):
    """What the agents need from an identity provider. All actions must honour ``idempotency_key``."""

    def account(self, user_id: str) -> AccountRecord | None: ...
    def groups(self, user_id: str) -> list[str]: ...
    def unlock(self, user_id: str, *, actor: str, idempotency_key: str, reason: str = "") -> ActionResult: ...
    def reset_password(self, user_id: str, *, actor: str, idempotency_key: str,
                       deliver: Delivery | None = None) -> ActionResult: ...
    def reset_mfa(self, user_id: str, *, actor: str, idempotency_key: str,
                  deliver: Delivery | None = None) -> ActionResult: ...
    def disable(self, user_id: str, *, actor: str, idempotency_key: str, reason: str = "") -> ActionResult: ...
    def lock(self, user_id: str, *, actor: str, idempotency_key: str, reason: str = "") -> ActionResult: ...
    def request_device_lock(self, user_id: str, *, device: str, actor: str, idempotency_key: str,
                            ticket: str = "") -> ActionResult: ...
    def recent_actions(self, target_id: str, *, since: datetime) -> int: ...
    def action_outcome(self, idempotency_key: str) -> str | None: ...
    def create_account(self, user_id: str, *, contacts: dict[str, str], actor: str, idempotency_key: str,
                       mfa_methods: list[str] | None = None) -> ActionResult: ...
    def remove_account(self, user_id: str, *, actor: str, idempotency_key: str) -> ActionResult: ...
    def enable(self, user_id: str, *, actor: str, idempotency_key: str, reason: str = "",
               status: str = "active", status_reason: str | None = None) -> ActionResult: ...
    def add_groups(self, user_id: str, groups: list[str], *, actor: str, idempotency_key: str) -> ActionResult: ...
    def remove_groups(self, user_id: str, groups: list[str], *, actor: str, idempotency_key: str) -> ActionResult: ...


def temporary_password(length: int = 14) -> str:
    """A random temporary password meeting the policy (upper, lower, digit, symbol)."""
    alphabet = string.ascii_letters + string.digits + "!#%+=?"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.islower() for c in pw) and any(c.isupper() for c in pw) and any(c.isdigit() for c in pw)
                and any(c in "!#%+=?" for c in pw)):
            return pw


class SqlDirectory:
    """Directory accounts in our own database."""

    def __init__(self, db: Database, audit: SqlAuditLog):
        self.db = db
        self.audit = audit

    # -- reads --------------------------------------------------------------------------------------------
    def account(self, user_id: str) -> AccountRecord | None:
        with self.db.session() as s:
            row = s.get(Account, user_id)
            return _record(row, self._groups(s, user_id)) if row else None

    def groups(self, user_id: str) -> list[str]:
        with self.db.session() as s:
            return self._groups(s, user_id)

    def action_outcome(self, idempotency_key: str) -> str | None:
        """What an action recorded under this key did (None if it never ran) — to undo a cut-off attempt."""
        with self.db.session() as s:
            row = s.scalars(select(DirectoryAction).where(DirectoryAction.idempotency_key == idempotency_key)).first()
            return row.outcome if row else None

    def recent_actions(self, target_id: str, *, since: datetime) -> int:
        """How many account-changing actions hit this account since ``since`` (for rate limits)."""
        with self.db.session() as s:
            q = select(func.count(DirectoryAction.id)).where(
                DirectoryAction.target_id == target_id,
                DirectoryAction.created_at >= since,
                DirectoryAction.outcome == "done",
                DirectoryAction.action.in_(("unlock", "reset_password", "reset_mfa")),
            )
            return int(s.scalar(q) or 0)

    # -- actions ------------------------------------------------------------------------------------------
    def unlock(self, user_id: str, *, actor: str, idempotency_key: str, reason: str = "") -> ActionResult:
        def act(row: Account) -> tuple[str, dict, str | None]:
            if row.status == "disabled":
                return "refused", {"why": "disabled"}, None
            if row.status != "locked":
                return "unchanged", {}, None
            row.status, row.status_reason = "active", None
            return "done", {"reason": reason}, None

        return self._act("unlock", user_id, actor, idempotency_key, act)

    def reset_password(self, user_id: str, *, actor: str, idempotency_key: str,
                       deliver: Delivery | None = None) -> ActionResult:
        def act(row: Account) -> tuple[str, dict, str | None]:
            if row.status == "disabled":
                return "refused", {"why": "disabled"}, None
            row.password_set_at = utcnow()
            row.must_change_password = True
            # A reset also clears a lockout: the employee signs in with the temporary password next.
            row.status, row.status_reason = "active", None
            return "done", {"must_change_password": True}, temporary_password()

        return self._act("reset_password", user_id, actor, idempotency_key, act, deliver)

    def reset_mfa(self, user_id: str, *, actor: str, idempotency_key: str,
                  deliver: Delivery | None = None) -> ActionResult:
        def act(row: Account) -> tuple[str, dict, str | None]:
            if row.status == "disabled":
                return "refused", {"why": "disabled"}, None
            removed = list(row.mfa_methods or [])
            row.mfa_methods = []
            link = f"https://aka.northwind.example/mfa-setup?t={secrets.token_urlsafe(16)}"
            return "done", {"removed_methods": removed}, link

        return self._act("reset_mfa", user_id, actor, idempotency_key, act, deliver)

    def disable(self, user_id: str, *, actor: str, idempotency_key: str, reason: str = "") -> ActionResult:
        def act(row: Account) -> tuple[str, dict, str | None]:
            if row.status == "disabled":
                return "unchanged", {}, None
            previous = {"previous": row.status, "previous_reason": row.status_reason}
            row.status, row.status_reason = "disabled", reason[:200] or None
            return "done", {"reason": reason, **previous}, None

        return self._act("disable", user_id, actor, idempotency_key, act)

    def lock(self, user_id: str, *, actor: str, idempotency_key: str, reason: str = "") -> ActionResult:
        def act(row: Account) -> tuple[str, dict, str | None]:
            if row.status in ("locked", "disabled"):
                return "unchanged", {"status": row.status}, None
            row.status, row.status_reason = "locked", reason[:200] or None
            return "done", {"reason": reason}, None

        return self._act("lock", user_id, actor, idempotency_key, act)

    # -- joiners and leavers (workflow engine) -----------------------------------------------------------
    def create_account(self, user_id: str, *, contacts: dict[str, str], actor: str, idempotency_key: str,
                       mfa_methods: list[str] | None = None) -> ActionResult:
        """A new joiner's account (active, must set a password at first sign-in). Existing: unchanged."""
        def change(s) -> tuple[str, dict, None]:
            if s.get(Account, user_id) is not None:
                return "unchanged", {"created": False}, None
            s.add(Account(user_id=user_id, status="active", must_change_password=True,
                          mfa_methods=list(mfa_methods or []), contacts=dict(contacts)))
            return "done", {"created": True}, None

        return self._keyed("create_account", user_id, actor, idempotency_key, change, audit_detail=False)

    def remove_account(self, user_id: str, *, actor: str, idempotency_key: str) -> ActionResult:
        """Undo ``create_account``: the account and its group memberships go, in one transaction."""
        def change(s) -> tuple[str, dict, None]:
            row = s.get(Account, user_id)
            if row is None:
                return "unchanged", {}, None
            for member in s.scalars(select(GroupMember).where(GroupMember.user_id == user_id)):
                s.delete(member)
            s.delete(row)
            return "done", {}, None

        return self._keyed("remove_account", user_id, actor, idempotency_key, change, audit_detail=False)

    def enable(self, user_id: str, *, actor: str, idempotency_key: str, reason: str = "",
               status: str = "active", status_reason: str | None = None) -> ActionResult:
        """Undo ``disable`` (a withdrawn resignation), back to the status it had (``active`` or ``locked``)."""
        def act(row: Account) -> tuple[str, dict, str | None]:
            if row.status != "disabled":
                return "unchanged", {}, None
            row.status = status if status in ("active", "locked") else "active"
            row.status_reason = status_reason if row.status == "locked" else None
            return "done", {"reason": reason, "status": row.status}, None

        return self._act("enable", user_id, actor, idempotency_key, act)

    def add_groups(self, user_id: str, groups: list[str], *, actor: str, idempotency_key: str) -> ActionResult:
        """Add memberships; the result lists the groups actually added (what an undo must remove)."""
        return self._membership("add_groups", user_id, groups, actor, idempotency_key, add=True)

    def remove_groups(self, user_id: str, groups: list[str], *, actor: str, idempotency_key: str) -> ActionResult:
        """Remove memberships; the result lists the groups actually removed (what an undo must restore)."""
        return self._membership("remove_groups", user_id, groups, actor, idempotency_key, add=False)

    def _membership(self, action: str, user_id: str, groups: list[str], actor: str, key: str, *,
                    add: bool) -> ActionResult:
        def change(s) -> tuple[str, dict, None]:
            changed = []
            for group in dict.fromkeys(groups):
                member = s.get(GroupMember, (group, user_id))
                if add and member is None:
                    s.add(GroupMember(group_id=group, user_id=user_id))
                    changed.append(group)
                elif not add and member is not None:
                    s.delete(member)
                    changed.append(group)
            return ("done" if changed else "unchanged"), {"groups": changed}, None

        return self._keyed(action, user_id, actor, key, change)

    def request_device_lock(self, user_id: str, *, device: str, actor: str, idempotency_key: str,
                            ticket: str = "") -> ActionResult:
        """Ask endpoint management (Intune) to lock and wipe a lost device; recorded, audited, idempotent."""

        def act(row: Account) -> tuple[str, dict, str | None]:
            return "done", {"device": device[:60], "ticket": ticket, "request": f"LOCK-{ticket or user_id}"}, None

        return self._act("device_lock", user_id, actor, idempotency_key, act)

    # -- internals ----------------------------------------------------------------------------------------
    def _act(self, action: str, user_id: str, actor: str, key: str, act,
             deliver: Delivery | None = None) -> ActionResult:
        """An action on an existing account (refused when there is none)."""
        def change(s) -> tuple[str, dict, str | None]:
            row = s.get(Account, user_id)
            if row is None:
                return "refused", {"why": "no such account"}, None
            result = act(row)
            row.updated_at = utcnow()
            return result

        return self._keyed(action, user_id, actor, key, change, deliver=deliver)

    def _keyed(self, action: str, user_id: str, actor: str, key: str, change, *,
               deliver: Delivery | None = None, audit_detail: bool = True) -> ActionResult:
        """Run ``change(session) -> (outcome, detail, secret)`` once per idempotency key, recorded and audited.

        A repeated key (or one a concurrent retry committed first) replays the recorded outcome and changes
        nothing. A secret for the account owner goes to the outbox in the same transaction.
        """
        by_key = select(DirectoryAction).where(DirectoryAction.idempotency_key == key)
        with self.db.session() as s:
            done = s.scalars(by_key).first()
            if done is not None:
                return _replayed(done)
            outcome, detail, secret = change(s)
            s.add(DirectoryAction(idempotency_key=key, action=action, target_id=user_id, actor=actor,
                                  outcome=outcome, detail=detail))
            if deliver is not None and secret and outcome == "done":
                s.add(OutboxMessage(user_id=user_id, channel=deliver.channel, address=deliver.address,
                                    kind=deliver.kind, body=deliver.body.replace("{secret}", secret)))
            try:
                s.commit()
            except IntegrityError:  # the same request raced us; report its outcome, do not act twice
                s.rollback()
                return _replayed(s.scalars(by_key).one())
        self.audit.append(actor, f"directory.{action}", target=user_id, outcome=outcome,
                          **(detail if audit_detail else {}))
        return ActionResult(action, user_id, outcome, detail, secret)

    @staticmethod
    def _groups(s, user_id: str) -> list[str]:
        q = select(GroupMember.group_id).where(GroupMember.user_id == user_id).order_by(GroupMember.group_id)
        return list(s.scalars(q))


def _replayed(done: DirectoryAction) -> ActionResult:
    """The recorded result of an action that already ran under this key."""
    return ActionResult(done.action, done.target_id, done.outcome, dict(done.detail or {}), None, True)


def _record(row: Account, groups: list[str]) -> AccountRecord:
    return AccountRecord(
        row.user_id, row.status, row.status_reason, row.password_set_at, bool(row.must_change_password),
        tuple(row.mfa_methods or []), dict(row.contacts or {}), tuple(groups),
    )


def hour_ago(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(hours=1)
