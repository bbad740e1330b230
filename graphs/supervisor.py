"""Supervisor wiring: route every turn to one specialist. Node logic lives in graphs/nodes/."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from graphs.context import Context
from graphs.nodes.respond import respond_node
from graphs.nodes.router import route_node
from graphs.state import InputState, State


def build_supervisor() -> StateGraph:
    """Return the uncompiled supervisor graph; callers compile it with their own checkpointer."""
    graph = StateGraph(State, input_schema=InputState, context_schema=Context)
    graph.add_node("route", route_node)
    graph.add_node("respond", respond_node)
    graph.add_edge(START, "route")
    graph.add_edge("route", "respond")
    graph.add_edge("respond", END)
    return graph
