"""Short deterministic replies: out of scope, clarifying questions, command acknowledgements, resume offers."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from app.prompts import load_prompt, render_prompt
from graphs.context import Context
from graphs.flows import FLOW_LABELS, NO_FLOW
from graphs.state import State
from graphs.streaming import emit_token


def say(runtime: Runtime[Context], text: str, **update: Any) -> dict[str, Any]:
    """Send a complete reply (as one token event) and record it as the turn's AI message."""
    emit_token(runtime, text)
    return {"messages": [AIMessage(text)], **update}


def end_flow(runtime: Runtime[Context], text: str, **update: Any) -> dict[str, Any]:
    """Send a reply that finishes the active flow (done, refused or given up)."""
    return say(runtime, text, **NO_FLOW, **update)


def out_of_scope_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """A polite decline; no flow starts."""
    return say(runtime, load_prompt("out_of_scope"))


def clarify_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Offer the two most likely routes as buttons; the answer is resolved by the dispatcher next turn."""
    options = (state.get("pending_clarify") or {}).get("options") or []
    first, second = ([*options, "something else", "something else"])[:2]
    text = render_prompt("clarify", first=FLOW_LABELS.get(first, first), second=FLOW_LABELS.get(second, second))
    actions = [
        {"name": "choose_route", "label": FLOW_LABELS.get(r, r).capitalize(), "payload": {"route": r}} for r in options
    ]
    return say(runtime, text, actions=actions)


def command_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Acknowledge cancel / start over / declining a resume offer."""
    ctx = runtime.context
    command = (state.get("route_info") or {}).get("command")
    flow = state.get("cancelled_flow")
    label = FLOW_LABELS.get(flow or "", "request")
    if command == "start_over":
        text = "OK, let's start over. What can I help you with?"
    elif command == "decline_resume":
        text = f"OK, I've dropped your {label}. Anything else I can help with?"
    elif flow:
        text = f"OK, I've cancelled your {label}. Anything else I can help with?"
    else:
        text = "There's nothing in progress to cancel. What can I help you with?"
    if flow:
        ctx.services.audit.append(ctx.user.id, "flow.cancelled", thread_id=ctx.thread_id, flow=flow, command=command)
    return say(runtime, text, cancelled_flow=None)


def wrapup_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """After a specialist finished: put the typed-password warning first, offer to resume a parked flow."""
    if state.get("silent"):
        return {}  # a person owns the conversation: nothing from the bot
    messages = state.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], AIMessage) else None
    text = str(last.content) if last is not None else ""
    update: dict[str, Any] = {}
    if state.get("preface"):
        text = state["preface"] + "\n\n" + text  # already streamed first (preface node)
    parked = state.get("parked_flows") or []
    if not state.get("active_flow") and parked and state.get("handler") != "command":
        flow = parked[-1]["flow"]
        offer = f"Shall we get back to your {FLOW_LABELS.get(flow, 'request')}?"
        emit_token(runtime, "\n\n" + offer)
        text = f"{text}\n\n{offer}"
        update["offer_resume"] = flow
        update["actions"] = [
            *(state.get("actions") or []),
            {"name": "resume", "label": "Yes", "payload": {}},
            {"name": "decline_resume", "label": "No", "payload": {}},
        ]
    if last is not None and text != last.content:
        update["messages"] = [AIMessage(text, id=last.id)]
    return update
