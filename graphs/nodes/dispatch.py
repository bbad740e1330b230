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

from app.prompts import load_prompt
from graphs.context import Context
from graphs.flows import FLOW_LABELS, NO_FLOW, flow_claims
from graphs.nodes.approvals import is_approval_command
from graphs.nodes.staff_desk import staff_command
from graphs.routing.routes import ROUTES
from graphs.state import State, last_user_text
from graphs.streaming import emit_token

_CANCEL = re.compile(
    r"^\s*(cancel|cancel (it|that|this|the request)|never ?mind|forget (it|that)|stop|abort|nvm)\s*[.!]*\s*$", re.I
)
_START_OVER = re.compile(r"^\s*(start (over|again)|restart|reset( the)? (chat|conversation))\s*[.!]*\s*$", re.I)
_YES = re.compile(r"^\s*(y|yes|yeah|yep|sure|ok(ay)?|please|yes please|let'?s do (it|that)|go on)\b", re.I)
_NO = re.compile(r"^\s*(n|no|nope|no thanks|not now|later|leave it|drop it)\b", re.I)




def _turn(base: dict[str, Any], route: str, layer: str, handler: str | None = None, **fields: Any) -> dict[str, Any]:
    """A state update for a turn decided before the router (command, clarification, resume)."""
    command = fields.pop("command", None)
    info = {"route": route, "confidence": 1.0, "layer": layer, "alternatives": []}
    if command:
        info["command"] = command
    return {**base, "handler": handler or route, "route": route, "route_info": info, **fields}


def _pick_option(text: str, options: list[str]) -> str | None:
    """Match an answer to a clarifying question: a route name, its label, or "1"/"2"."""
    lowered = text.strip().lower()
    for i, route in enumerate(options, 1):
        label = FLOW_LABELS.get(route, route).lower()
        if lowered in (str(i), route, route.replace("_", " "), label) or label in lowered:
            return route
    return None


def dispatch_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    update = _dispatch(state, runtime)
    ctx = runtime.context
    if "secret" in ctx.redacted:
        # Whatever the route, a typed password was removed before storage; the employee is warned first.
        ctx.services.audit.append(ctx.user.id, "chat.secret_redacted", thread_id=ctx.thread_id)
        update["notice"] = "secret_redacted"
    return update


def preface_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """What is said before the specialist's reply (after the routing step, so channels show that first):
    the typed-password warning, and decisions on the employee's leave they haven't heard yet."""
    from graphs.agents.leave import decision_updates

    if state.get("handler") == "human_owned":
        return {"preface": None}  # a person owns the conversation: the bot says nothing, not even this
    parts = []
    if state.get("notice") == "secret_redacted":
        parts.append(load_prompt("secret_warning"))
    if updates := decision_updates(runtime.context):
        parts.append(updates)
    ctx = runtime.context
    if state.get("turn_count") == 1 and ctx.user.is_staff and state.get("handler") != "approvals":
        # A manager or staff member opening a conversation hears what is waiting for their decision.
        waiting = ctx.services.approvals.pending_for(ctx.user)
        if waiting:
            parts.append(f"You have {len(waiting)} approval{'s' if len(waiting) > 1 else ''} waiting for you "
                         "(say \"pending approvals\" to see them).")
    owned = state.get("handler") == "human_owned"  # that node shows them itself
    if not owned and (pending := ctx.services.handoffs.undelivered(ctx.thread_id)):
        # Staff replies sent while the employee's chat was closed.
        parts.append("\n\n".join(f"{m['author']}: {m['text']}" for m in pending))
        ctx.services.handoffs.mark_delivered([m["id"] for m in pending])
    preface = "\n\n".join(parts)
    if preface:
        emit_token(runtime, preface + "\n\n")
    return {"preface": preface or None}


def _dispatch(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    ctx = runtime.context
    text = last_user_text(state)
    active = state.get("active_flow")
    parked = list(state.get("parked_flows") or [])
    # Per-turn fields start empty; only the branch that needs one sets it.
    base: dict[str, Any] = {
        "sources": [],
        "actions": [],
        "notice": None,
        "replay_text": None,
        "resumed": False,
        "pending_clarify": None,
        "offer_resume": None,
        "turn_count": state.get("turn_count", 0) + 1,
        "silent": False,
    }

    # A person owns this conversation: everything the employee writes goes to them; the bot stays out of it.
    if ctx.services.handoffs.owned(ctx.thread_id) is not None:
        return _turn(base, "human_handoff", "human_owned", "human_owned")

    if _START_OVER.match(text):
        return _turn(
            base,
            "smalltalk",
            "command",
            "command",
            command="start_over",
            **NO_FLOW,
            parked_flows=[],
            cancelled_flow=active,
        )
    if _CANCEL.match(text):
        return _turn(
            base, active or "smalltalk", "command", "command", command="cancel", **NO_FLOW, cancelled_flow=active
        )

    if (ctx.user.has_role("hr_staff") or ctx.user.has_role("it_agent")) and staff_command(text):
        return _turn(base, "smalltalk", "command", "staff_desk", command="staff_desk")
    if ctx.user.is_staff and is_approval_command(text):
        return _turn(base, "smalltalk", "command", "approvals", command="approvals")

    clarify = state.get("pending_clarify")
    choice = _pick_option(text, clarify["options"]) if clarify else None
    if choice is not None:
        return _turn(base, choice, "clarified", last_route=choice, replay_text=clarify["text"])

    if state.get("offer_resume") and parked:
        if _YES.match(text):
            flow = parked.pop()
            return _turn(
                base,
                flow["flow"],
                "resume",
                last_route=flow["flow"],
                active_flow=flow["flow"],
                slots=flow.get("slots", {}),
                pending_slot=flow.get("pending_slot"),
                flow_step=flow.get("flow_step"),
                parked_flows=parked,
                resumed=True,
            )
        if _NO.match(text):
            dropped = parked.pop()
            return _turn(
                base,
                "smalltalk",
                "command",
                "command",
                command="decline_resume",
                parked_flows=parked,
                cancelled_flow=dropped["flow"],
            )

    decision = ctx.router.decide(text, active_flow=active, flow_claims=bool(active) and flow_claims(active, text))
    info = decision.to_dict()
    update: dict[str, Any] = {**base, "route": decision.route, "route_info": info, "last_route": decision.route}
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
        update.update(NO_FLOW, parked_flows=parked[-3:], notice=f"parked:{active}")
    update["handler"] = decision.route
    return update
