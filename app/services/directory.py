"""People directory: identity, roles and reporting lines (the source of a user's roles)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select

from app.db.engine import Database
from app.db.schema import Department, UserRow
from app.identity import User
from app.services.passwords import hash_password, verify_password

_DUMMY_HASH = hash_password("not-a-real-password")


class People(Protocol):
    def get(self, user_id: str) -> User | None: ...
    def authenticate(self, user_id: str, password: str) -> User | None: ...
    def by_email(self, email: str) -> User | None: ...


class SqlPeople:
    def __init__(self, db: Database):
        self.db = db

    def get(self, user_id: str) -> User | None:
        with self.db.session() as s:
            row = s.get(UserRow, user_id.strip().lower())
            return _user(s, row) if row and row.active else None

    def by_email(self, email: str) -> User | None:
        with self.db.session() as s:
            row = s.scalars(select(UserRow).where(UserRow.email == email.strip().lower())).first()
            return _user(s, row) if row and row.active else None

    def authenticate(self, user_id: str, password: str) -> User | None:
        """Check a local password; unknown users and wrong passwords look the same to the caller."""
        with self.db.session() as s:
            row = s.get(UserRow, (user_id or "").strip().lower())
            # Always run one scrypt check, so response time does not reveal which user ids exist.
            ok = verify_password(password or "", row.password_hash if row else _DUMMY_HASH)
            if row is None or not row.active or not ok:
                return None
            return _user(s, row)

    def all(self) -> list[User]:
        with self.db.session() as s:
            return [_user(s, r) for r in s.scalars(select(UserRow).order_by(UserRow.id))]


def _user(s, row: UserRow) -> User:
    dept = s.get(Department, row.department_id) if row.department_id else None
    roles = tuple(dict.fromkeys(["employee", *(row.roles or [])]))
    return User(
        id=row.id,
        name=row.name,
        roles=roles,
        department=dept.name if dept else None,
        email=row.email,
        location=row.location,
        manager_id=row.manager_id,
    )
