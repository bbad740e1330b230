"""The conversation state machine's transition function: a(t) = π(s(t), m(t)).

Order of business for each message:
1. global commands ("cancel", "never mind", "start over") work everywhere;
2. an open clarifying question or resume offer is answered;
3. otherwise the layered router decides, given the active flow; a clear topic switch parks the active flow.
The node writes ``handler`` (which node runs next) and the route decision into the state.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from graphs.context import Context
from graphs.flows import FLOW_LABELS, flow_claims
from graphs.routing.routes import ROUTES
from graphs.state import State, last_user_text

_CANCEL = re.compile(
    r"^\s*(cancel|cancel (it|that|this|the request)|never ?mind|forget (it|that)|stop|abort|nvm)\s*[.!]*\s*$", re.I
)
_START_OVER = re.compile(r"^\s*(start (over|again)|restart|reset( the)? (chat|conversation))\s*[.!]*\s*$", re.I)
_YES = re.compile(r"^\s*(y|yes|yeah|yep|sure|ok(ay)?|please|yes please|let'?s do (it|that)|go on)\b", re.I)
_NO = re.compile(r"^\s*(n|no|nope|no thanks|not now|later|leave it|drop it)\b", re.I)


def _decision(route: str, layer: str, confidence: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"route": route, "confidence": confidence, "layer": layer, "alternatives": [], **extra}


def _pick_option(text: str, options: list[str]) -> str | None:
    """Match an answer to a clarifying question: a route name, its label, or "1"/"2"."""
    lowered = text.strip().lower()
    for i, route in enumerate(options, 1):
        label = FLOW_LABELS.get(route, route).lower()
        if lowered in (str(i), route, route.replace("_", " "), label) or label in lowered:
            return route
    return None


def dispatch_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    ctx = runtime.context
    text = last_user_text(state)
    active = state.get("active_flow")
    parked = list(state.get("parked_flows") or [])
    base: dict[str, Any] = {"sources": [], "actions": [], "notice": None, "turn_count": state.get("turn_count", 0) + 1}

    if _START_OVER.match(text):
        info = _decision("smalltalk", "command", command="start_over")
        return {
            **base,
            "handler": "command",
            "route": "smalltalk",
            "route_info": info,
            "active_flow": None,
            "parked_flows": [],
            "slots": {},
            "pending_slot": None,
            "flow_step": None,
            "pending_clarify": None,
            "offer_resume": None,
            "cancelled_flow": active,
        }
    if _CANCEL.match(text):
        info = _decision(active or "smalltalk", "command", command="cancel")
        return {
            **base,
            "handler": "command",
            "route": active or "smalltalk",
            "route_info": info,
            "active_flow": None,
            "slots": {},
            "pending_slot": None,
            "flow_step": None,
            "pending_clarify": None,
            "offer_resume": None,
            "cancelled_flow": active,
        }

    clarify = state.get("pending_clarify")
    if clarify:
        choice = _pick_option(text, clarify["options"])
        if choice is not None:
            info = _decision(choice, "clarified")
            return {
                **base,
                "handler": choice,
                "route": choice,
                "route_info": info,
                "last_route": choice,
                "pending_clarify": None,
                "replay_text": clarify["text"],
            }

    offer = state.get("offer_resume")
    if offer and parked:
        if _YES.match(text):
            flow = parked.pop()
            info = _decision(flow["flow"], "resume")
            return {
                **base,
                "handler": flow["flow"],
                "route": flow["flow"],
                "route_info": info,
                "last_route": flow["flow"],
                "active_flow": flow["flow"],
                "slots": flow.get("slots", {}),
                "pending_slot": flow.get("pending_slot"),
                "flow_step": flow.get("flow_step"),
                "parked_flows": parked,
                "offer_resume": None,
                "resumed": True,
            }
        if _NO.match(text):
            dropped = parked.pop()
            info = _decision("smalltalk", "command", command="decline_resume")
            return {
                **base,
                "handler": "command",
                "route": "smalltalk",
                "route_info": info,
                "parked_flows": parked,
                "offer_resume": None,
                "cancelled_flow": dropped["flow"],
            }

    decision = ctx.router.decide(text, active_flow=active, flow_claims=bool(active) and flow_claims(active, text))
    info = decision.to_dict()
    update: dict[str, Any] = {
        **base,
        "route": decision.route,
        "route_info": info,
        "last_route": decision.route,
        "pending_clarify": None,
        "offer_resume": None,
        "replay_text": None,
        "resumed": False,
    }
    if decision.clarify:
        options = [decision.route, *[a["route"] for a in decision.alternatives if a["route"] in ROUTES][:1]]
        update.update(handler="clarify", pending_clarify={"options": options, "text": text})
        return update
    if active and decision.route != active:
        parked.append(
            {
                "flow": active,
                "slots": state.get("slots") or {},
                "pending_slot": state.get("pending_slot"),
                "flow_step": state.get("flow_step"),
            }
        )
        update.update(
            parked_flows=parked[-3:],
            active_flow=None,
            slots={},
            pending_slot=None,
            flow_step=None,
            notice=f"parked:{active}",
        )
    update["handler"] = decision.route
    return update
