"""Which routes are multi-turn flows, how they are named to employees, and how a flow recognises its answer.

A flow that is waiting for an answer keeps ``active_flow`` set to its route name (and its step, slots and
pending slot in the state). ``flow_claims`` lets the router keep the turn with the flow when the message is
plainly the answer it asked for, even if it would otherwise look like another topic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: The state of "no flow in progress" (what a finished, cancelled or parked flow leaves behind).
NO_FLOW: dict[str, Any] = {"active_flow": None, "slots": {}, "pending_slot": None, "flow_step": None}

#: How flows are named to employees ("Shall we get back to your …?").
FLOW_LABELS: dict[str, str] = {
    "incident": "problem report",
    "password_reset": "password or sign-in request",
    "onboarding": "onboarding request",
    "offboarding": "offboarding request",
    "leave": "leave request",
    "knowledge": "question",
    "human_handoff": "request to talk to a person",
    "smalltalk": "chat",
    "out_of_scope": "other question",
}

_Claim = Callable[[str], bool]
_CLAIMS: dict[str, _Claim] = {}


def register_claim(route: str, claim: _Claim) -> None:
    """Flows register how they recognise the answer to their pending question."""
    _CLAIMS[route] = claim


def flow_claims(route: str, text: str) -> bool:
    claim = _CLAIMS.get(route)
    return bool(claim and claim(text))


def _handoff_claims(text: str) -> bool:
    # While the handoff flow asks "what is it about?", any short free-text description is its answer,
    # unless it is a question that clearly starts something else (the router decides those).
    return len(text.split()) <= 40 and not text.rstrip().endswith("?")


register_claim("human_handoff", _handoff_claims)
