"""Runtime context handed to every node through LangGraph's ``context_schema`` (never globals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from app.identity import User
from app.models.registry import Models
from app.services.registry import Services
from app.settings import Settings
from graphs.routing.router import Router

if TYPE_CHECKING:
    from graphs.workflows.engine import Engine


@dataclass
class Context:
    settings: Settings
    user: User
    thread_id: str
    services: Services
    models: Models
    router: Router
    today: date = field(default_factory=date.today)
    # Which kinds of personal data were redacted from this turn's message (e.g. "secret").
    redacted: tuple[str, ...] = ()
    workflows: Engine | None = None  # the onboarding/offboarding engine (None where no agent needs it)
    # Puts a staff member's message into an employee's conversation: (thread_id, author, text) -> shown live?
    deliver: Callable[[str, str, str], Awaitable[bool]] | None = None
