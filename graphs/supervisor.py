"""Supervisor wiring: route every turn to one specialist. Node logic lives in graphs/nodes/."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph

from graphs.agents.knowledge import knowledge_node
from graphs.context import Context
from graphs.nodes.respond import respond_node
from graphs.nodes.router import route_node
from graphs.state import InputState, State


def build_supervisor() -> StateGraph:
    """Return the uncompiled supervisor graph; callers compile it with their own checkpointer."""
    graph = StateGraph(State, input_schema=InputState, context_schema=Context)
    graph.add_node("route", route_node)
    graph.add_node("respond", respond_node)
    graph.add_node("knowledge", knowledge_node)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", next_node, {"knowledge": "knowledge", "respond": "respond"})
    graph.add_edge("respond", END)
    graph.add_edge("knowledge", END)
    return graph


def next_node(state: State) -> Literal["knowledge", "respond"]:
    """Which specialist handles the turn (agents not built yet answer through the general responder)."""
    return "knowledge" if state.get("route") == "knowledge" else "respond"
