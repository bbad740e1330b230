"""Identity verification by a one-time code sent out-of-band to a contact registered in the directory.

Codes are 6 digits, expire after 5 minutes and work once; 3 wrong attempts lock verification for the user for
15 minutes. Only a salted hash of the code is stored. Every send and attempt is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.db.engine import Database
from app.db.schema import Verification, utcnow
from app.services.audit import SqlAuditLog
from app.services.outbox import SqlOutbox, mask_address

CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 3
LOCKOUT = timedelta(minutes=15)
MAX_CODES_PER_HOUR = 5


@dataclass(frozen=True)
class Sent:
    ok: bool
    masked_address: str = ""
    expires_at: datetime | None = None
    status: str = "sent"  # sent | locked | rate_limited | no_contact
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Checked:
    status: str  # ok | wrong | expired | locked | none
    attempts_left: int = 0
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _hash(code: str, salt: str) -> str:
    return salt + "$" + hmac.new(salt.encode(), code.encode(), hashlib.sha256).hexdigest()


def _matches(code: str, stored: str) -> bool:
    salt = stored.split("$", 1)[0]
    return hmac.compare_digest(_hash(code, salt), stored)


def _aware(ts: datetime | None) -> datetime | None:
    return ts if ts is None or ts.tzinfo else ts.replace(tzinfo=UTC)


class Verifier:
    def __init__(self, db: Database, outbox: SqlOutbox, audit: SqlAuditLog, clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.outbox = outbox
        self.audit = audit
        self.clock = clock

    def locked_until(self, user_id: str) -> datetime | None:
        with self.db.session() as s:
            return self._locked_until(s, user_id)

    def send(self, user_id: str, *, purpose: str, channel: str, address: str, thread_id: str | None = None) -> Sent:
        """Send a fresh code (any earlier unused code stops working)."""
        now = self.clock()
        with self.db.session() as s:
            locked = self._locked_until(s, user_id)
            if locked:
                return Sent(False, status="locked", locked_until=locked)
            recent = s.scalar(
                select(func.count(Verification.id)).where(
                    Verification.user_id == user_id, Verification.created_at >= now - timedelta(hours=1)
                )
            )
            if int(recent or 0) >= MAX_CODES_PER_HOUR:
                self.audit.append(user_id, "verification.rate_limited", thread_id=thread_id, purpose=purpose)
                return Sent(False, status="rate_limited")
            for old in s.scalars(select(Verification).where(Verification.user_id == user_id,
                                                            Verification.used_at.is_(None))):
                old.used_at = now  # superseded
            code = f"{secrets.randbelow(1_000_000):06d}"
            s.add(Verification(user_id=user_id, purpose=purpose, channel=channel,
                               code_hash=_hash(code, secrets.token_hex(8)), expires_at=now + CODE_TTL,
                               created_at=now))
            s.commit()
        self.outbox.send(
            user_id=user_id, channel=channel, address=address, kind="verification_code",
            body=f"Your Northwind verification code is {code}. It expires in 5 minutes. "
                 "Never share it; IT will never ask you for it by phone.",
        )
        masked = mask_address(channel, address)
        self.audit.append(user_id, "verification.sent", thread_id=thread_id, purpose=purpose, channel=channel,
                          to=masked)
        return Sent(True, masked, now + CODE_TTL)

    def check(self, user_id: str, code: str, *, thread_id: str | None = None) -> Checked:
        now = self.clock()
        code = "".join(c for c in code if c.isdigit())
        with self.db.session() as s:
            locked = self._locked_until(s, user_id)
            if locked:
                result = Checked("locked", 0, locked)
            else:
                row = s.scalars(
                    select(Verification)
                    .where(Verification.user_id == user_id, Verification.used_at.is_(None))
                    .order_by(Verification.id.desc())
                ).first()
                if row is None:
                    result = Checked("none")
                elif _aware(row.expires_at) < now:
                    row.used_at = now
                    result = Checked("expired")
                elif _matches(code, row.code_hash):
                    row.used_at = now
                    for earlier in self._recent(s, user_id, now):
                        earlier.attempts = 0  # a success clears the failure count
                    result = Checked("ok")
                else:
                    row.attempts += 1
                    # Failures count per user across codes: asking for a new code does not reset them.
                    failures = sum(r.attempts for r in self._recent(s, user_id, now) if r.id != row.id) + row.attempts
                    if failures >= MAX_ATTEMPTS:
                        row.used_at = now
                        row.locked_until = now + LOCKOUT
                        result = Checked("locked", 0, row.locked_until)
                    else:
                        result = Checked("wrong", MAX_ATTEMPTS - failures)
                s.commit()
        event = {"ok": "verification.succeeded", "wrong": "verification.failed", "locked": "verification.locked",
                 "expired": "verification.expired", "none": "verification.no_code"}[result.status]
        self.audit.append(user_id, event, thread_id=thread_id, attempts_left=result.attempts_left)
        return result

    @staticmethod
    def _recent(s, user_id: str, now: datetime) -> list[Verification]:
        """The user's codes of the last lockout window (their failed attempts add up)."""
        return list(s.scalars(select(Verification).where(Verification.user_id == user_id,
                                                         Verification.created_at >= now - LOCKOUT)))

    def _locked_until(self, s, user_id: str) -> datetime | None:
        now = self.clock()
        row = s.scalars(
            select(Verification)
            .where(Verification.user_id == user_id, Verification.locked_until.is_not(None))
            .order_by(Verification.locked_until.desc())
        ).first()
        until = _aware(row.locked_until) if row else None
        return until if until and until > now else None
