"""Interim router: keyword rules until the layered router (routing issue) replaces it.

It already speaks the supervisor's vocabulary (the nine routes) and records how it decided.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from graphs.context import Context
from graphs.state import State

ROUTES = (
    "incident",
    "password_reset",
    "onboarding",
    "offboarding",
    "leave",
    "knowledge",
    "human_handoff",
    "smalltalk",
    "out_of_scope",
)

_RULES: tuple[tuple[str, str], ...] = (
    ("human_handoff", r"\b(human|real person|agent|someone|harass\w*|grievance)\b"),
    ("password_reset", r"\b(password|locked out|mfa|authenticator|2fa)\b"),
    ("incident", r"\b(broken|not working|error|crash\w*|slow|phishing|stolen|lost my|outage|down)\b"),
    ("offboarding", r"\b(offboard\w*|resign\w*|leaver|last day|terminat\w*)\b"),
    ("onboarding", r"\b(onboard\w*|new hire|new joiner|starts? on|first day)\b"),
    ("leave", r"\b(leave|vacation|holiday|day off|days off|sick|pto|annual leave)\b"),
    ("smalltalk", r"^\s*(hi|hello|hey|thanks?|thank you|good (morning|afternoon)|what can you do)\b"),
    ("knowledge", r"\b(how do i|how to|policy|vpn|wi-?fi|expense|payroll|benefit|printer)\b"),
)


def classify(text: str) -> dict[str, Any]:
    """Return ``{route, confidence, layer, alternatives}`` for one message."""
    lowered = text.lower()
    hits = [route for route, pattern in _RULES if re.search(pattern, lowered)]
    if hits:
        return {
            "route": hits[0],
            "confidence": 0.9 if len(hits) == 1 else 0.6,
            "layer": "keyword",
            "alternatives": [{"route": r, "confidence": 0.5} for r in hits[1:3]],
        }
    return {"route": "knowledge", "confidence": 0.3, "layer": "default", "alternatives": []}


def route_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Decide the route for the newest user message."""
    text = state["messages"][-1].content if state.get("messages") else ""
    info = classify(str(text))
    return {"route": info["route"], "route_info": info, "last_route": info["route"], "sources": [], "actions": []}
