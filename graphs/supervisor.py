"""Supervisor wiring: every turn is one run — dispatch (commands, routing, parking) → one handler → wrap-up.

Node logic lives in graphs/nodes/ and graphs/agents/; this module only connects them.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from graphs.agents.handoff import handoff_node
from graphs.agents.incident.flow import incident_node
from graphs.agents.knowledge import knowledge_node
from graphs.agents.leave import leave_node
from graphs.agents.offboarding import offboarding_node
from graphs.agents.onboarding import onboarding_node
from graphs.agents.password_reset import password_reset_node
from graphs.context import Context
from graphs.nodes.approvals import approvals_node
from graphs.nodes.dispatch import dispatch_node, preface_node
from graphs.nodes.replies import clarify_node, command_node, out_of_scope_node, wrapup_node
from graphs.nodes.respond import respond_node
from graphs.nodes.staff_desk import human_owned_node, staff_desk_node
from graphs.state import InputState, State

# Route (or internal handler) -> node.
HANDLERS = {
    "knowledge": "knowledge",
    "human_handoff": "human_handoff",
    "out_of_scope": "out_of_scope",
    "smalltalk": "respond",
    "incident": "incident",
    "password_reset": "password_reset",
    "onboarding": "onboarding",
    "offboarding": "offboarding",
    "leave": "leave",
    "clarify": "clarify",
    "command": "command",
    "approvals": "approvals",
    "staff_desk": "staff_desk",
    "human_owned": "human_owned",
}


def pick_handler(state: State) -> str:
    return HANDLERS.get(state.get("handler") or "", "respond")


def after_incident(state: State) -> str:
    """The incident agent hands password problems to the password-reset flow within the same turn."""
    return "password_reset" if state.get("handler") == "password_reset" else "wrapup"


def build_supervisor() -> StateGraph:
    """Return the uncompiled supervisor graph; callers compile it with their own checkpointer."""
    graph = StateGraph(State, input_schema=InputState, context_schema=Context)
    graph.add_node("dispatch", dispatch_node)
    for name, node in (
        ("knowledge", knowledge_node),
        ("human_handoff", handoff_node),
        ("out_of_scope", out_of_scope_node),
        ("respond", respond_node),
        ("clarify", clarify_node),
        ("command", command_node),
        ("password_reset", password_reset_node),
        ("onboarding", onboarding_node),
        ("offboarding", offboarding_node),
        ("approvals", approvals_node),
        ("leave", leave_node),
        ("staff_desk", staff_desk_node),
        ("human_owned", human_owned_node),
    ):
        graph.add_node(name, node)
        graph.add_edge(name, "wrapup")
    graph.add_node("incident", incident_node)
    graph.add_conditional_edges("incident", after_incident, ["password_reset", "wrapup"])
    graph.add_node("wrapup", wrapup_node)
    graph.add_node("preface", preface_node)
    graph.add_edge(START, "dispatch")
    graph.add_edge("dispatch", "preface")
    graph.add_conditional_edges("preface", pick_handler, sorted(set(HANDLERS.values())))
    graph.add_edge("wrapup", END)
    return graph
