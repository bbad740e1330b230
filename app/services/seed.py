"""Demo data so every flow can be tried: departments, employees, managers, HR and IT staff."""

from __future__ import annotations

import os
from dataclasses import dataclass

from app.db.engine import Database
from app.db.schema import Department, UserRow
from app.services.passwords import hash_password

DEMO_PASSWORD_ENV = "CONCIERGE_DEMO_PASSWORD"
DEFAULT_DEMO_PASSWORD = "concierge-demo"

DEPARTMENTS = {
    "engineering": "Engineering",
    "finance": "Finance",
    "hr": "Human Resources",
    "it": "IT",
    "sales": "Sales",
    "operations": "Operations",
}


@dataclass(frozen=True)
class DemoUser:
    id: str
    name: str
    department: str
    roles: tuple[str, ...] = ()
    manager: str | None = None
    location: str = "London"
    title: str = ""


DEMO_USERS = (
    DemoUser("bob", "Bob Martins", "engineering", ("manager",), None, "London", "Engineering Manager"),
    DemoUser("alice", "Alice Johnson", "engineering", (), "bob", "London", "Software Engineer"),
    DemoUser("erin", "Erin Walsh", "engineering", (), "bob", "Remote", "QA Engineer"),
    DemoUser("frank", "Frank Osei", "finance", ("manager",), None, "Manchester", "Finance Manager"),
    DemoUser("carol", "Carol Diaz", "finance", (), "frank", "Manchester", "Accountant"),
    DemoUser("dave", "Dave Kim", "sales", (), "frank", "London", "Account Executive"),
    DemoUser("peter", "Peter Chen", "operations", (), "frank", "London", "Operations Analyst"),
    DemoUser("anna", "Anna Novak", "sales", (), "frank", "Berlin", "Sales Representative"),
    DemoUser("hannah", "Hannah Reyes", "hr", ("hr_staff",), None, "London", "HR Business Partner"),
    DemoUser("ivan", "Ivan Petrov", "it", ("it_agent",), None, "London", "IT Service Desk Analyst"),
)


def demo_password() -> str:
    return os.environ.get(DEMO_PASSWORD_ENV) or DEFAULT_DEMO_PASSWORD


def seed(db: Database) -> dict[str, int]:
    """Create or refresh the demo data. Idempotent: running it twice changes nothing the second time."""
    created = {"departments": 0, "users": 0}
    password = demo_password()
    with db.session() as s:
        for dept_id, name in DEPARTMENTS.items():
            if s.get(Department, dept_id) is None:
                s.add(Department(id=dept_id, name=name))
                created["departments"] += 1
        s.flush()
        for u in DEMO_USERS:
            if s.get(UserRow, u.id) is None:
                s.add(
                    UserRow(
                        id=u.id,
                        name=u.name,
                        email=f"{u.id}@example.com",
                        department_id=u.department,
                        manager_id=u.manager,
                        roles=list(u.roles),
                        location=u.location,
                        title=u.title,
                        password_hash=hash_password(password),
                    )
                )
                created["users"] += 1
        s.commit()
    return created
