"""Who is speaking: the authenticated user every turn carries. Roles come from the directory, never from chat."""

from __future__ import annotations

from dataclasses import dataclass, field

STAFF_ROLES = frozenset({"manager", "hr_staff", "it_agent"})


@dataclass(frozen=True)
class User:
    """An authenticated person. ``roles`` always includes ``employee``."""

    id: str
    name: str
    roles: tuple[str, ...] = ("employee",)
    department: str | None = None
    email: str | None = None
    location: str | None = None
    manager_id: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def is_staff(self) -> bool:
        return bool(STAFF_ROLES.intersection(self.roles))

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "roles": list(self.roles),
            "department": self.department,
            "location": self.location,
            "manager_id": self.manager_id,
        }
