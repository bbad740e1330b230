"""Events streamed by a conversation turn; every channel renders these and nothing else."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class TokenEvent:
    """A piece of the reply as the model writes it."""

    text: str
    type: Literal["token"] = "token"


@dataclass(frozen=True)
class StepEvent:
    """A graph node started or finished (shown as a step in the UI)."""

    name: str
    status: Literal["start", "end"]
    detail: dict[str, Any] = field(default_factory=dict)
    type: Literal["step"] = "step"


@dataclass(frozen=True)
class FinalEvent:
    """The turn is complete: the whole reply, the route taken, and the exposed conversation state."""

    reply: str
    thread_id: str
    route: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    type: Literal["final"] = "final"


@dataclass(frozen=True)
class ErrorEvent:
    """The turn could not be completed; ``message`` is safe to show, ``reference`` points into the log."""

    message: str
    reference: str
    code: str = "internal"
    type: Literal["error"] = "error"


Event = TokenEvent | StepEvent | FinalEvent | ErrorEvent


def event_to_dict(event: Event) -> dict[str, Any]:
    return asdict(event)
