"""Demo data so every flow can be tried: departments, employees, managers, HR and IT staff."""

from __future__ import annotations

import os
from dataclasses import dataclass

from app.db.engine import Database
from app.db.schema import Account, Department, GroupMember, UserRow
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


# Support groups IT staff work from, and the tickets queue each one owns.
IT_GROUPS = ("service-desk", "end-user-computing", "network", "applications", "identity-access",
             "security-operations", "major-incident")
GROUPS = {"ivan": IT_GROUPS, "hannah": ("hr-operations",)}
# Peter is locked out (five wrong passwords) so the unlock path can be tried from the demo.
LOCKED = {"peter": "5 failed sign-ins"}


def demo_contacts(index: int, user_id: str) -> dict[str, str]:
    """Registered out-of-band contacts: UK drama-range mobile numbers (never real) and a private mailbox."""
    return {"sms": f"+44 7700 900{index:03d}", "email": f"{user_id}.private@example.net"}


def demo_password() -> str:
    return os.environ.get(DEMO_PASSWORD_ENV) or DEFAULT_DEMO_PASSWORD


def seed(db: Database) -> dict[str, int]:
    """Create or refresh the demo data. Idempotent: running it twice changes nothing the second time."""
    created = {"departments": 0, "users": 0, "accounts": 0, "tickets": 0}
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
        s.flush()
        for i, u in enumerate(DEMO_USERS, 1):
            if s.get(Account, u.id) is None:
                status_reason = LOCKED.get(u.id)
                s.add(
                    Account(
                        user_id=u.id,
                        status="locked" if status_reason else "active",
                        status_reason=status_reason,
                        mfa_methods=["authenticator_app"],
                        contacts=demo_contacts(i, u.id),
                    )
                )
                created["accounts"] += 1
            for group in ("all-staff", f"dept-{u.department}", *GROUPS.get(u.id, ())):
                if s.get(GroupMember, (group, u.id)) is None:
                    s.add(GroupMember(group_id=group, user_id=u.id))
        s.commit()
    created["tickets"] = _seed_tickets(db)
    created["hr_records"] = _seed_people_records(db)
    return created


def _seed_people_records(db: Database) -> int:
    """HR records, mailboxes, badges and equipment for the demo staff, so offboarding has something to undo."""
    from datetime import date

    from app.services.assets import SqlAssets
    from app.services.facilities import SqlFacilities
    from app.services.hr_records import SqlHrRecords
    from app.services.mailboxes import SqlMailboxes

    hr, assets, facilities, mail = SqlHrRecords(db), SqlAssets(db), SqlFacilities(db), SqlMailboxes(db)
    made = 0
    for u in DEMO_USERS:
        if hr.get(u.id) is not None:
            continue
        hr.create_record(person_id=u.id, full_name=u.name, department=u.department, title=u.title,
                         manager_id=u.manager, employment_type="employee", start_date=date(2023, 1, 9),
                         location=u.location, idempotency_key=f"seed:hr:{u.id}")
        mail.create_mailbox(u.id, f"{u.id}@example.com", idempotency_key=f"seed:mail:{u.id}")
        facilities.issue_badge(u.id, u.location, idempotency_key=f"seed:badge:{u.id}")
        profile = "developer" if u.department == "engineering" else "remote" if u.location == "Remote" else "standard"
        assets.order_equipment(u.id, profile, idempotency_key=f"seed:assets:{u.id}")
        made += 1
    return made


def _seed_tickets(db: Database) -> int:
    """A few open tickets so status questions can be tried (keys make this idempotent)."""
    from app.services.tickets import NewTicket, SqlTickets

    tickets = SqlTickets(db)
    made = 0
    for key, new in (
        ("seed:alice:dock", NewTicket("alice", "Docking station not detecting second monitor",
                                      "Dell WD19 dock: laptop charges but the second monitor stays black.",
                                      "hardware", "peripheral", "docking_station", 3, 2, "end-user-computing")),
        ("seed:dave:printer", NewTicket("dave", "Cannot print to LDN-3-PRN01",
                                        "Print jobs stay queued since Monday.", "hardware", "printer", "printer",
                                        3, 3, "end-user-computing")),
    ):
        _, was_created = tickets.create(new, actor="seed", idempotency_key=key)
        made += int(was_created)
    return made
