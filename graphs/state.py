"""Conversation state kept by the checkpointer: s(t+1) = δ(s(t), m(t), κ(t))."""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class InputState(TypedDict):
    """What a channel sends in: the (already redacted) user message."""

    messages: Annotated[list[AnyMessage], add_messages]


class State(InputState, total=False):
    """The whole conversation state. Keys listed in ``EXPOSED_KEYS`` are part of the public contract."""

    route: str | None  # route chosen for the current turn
    route_info: dict[str, Any]  # {route, confidence, layer, alternatives}
    last_route: str | None
    active_flow: str | None  # the specialist waiting for an answer, if any
    parked_flows: list[dict[str, Any]]  # flows interrupted by a topic switch, most recent last
    slots: dict[str, Any]  # values collected by the active flow
    turn_count: int
    sources: list[dict[str, Any]]  # citations of this turn's answer
    actions: list[dict[str, Any]]  # buttons offered with this turn's answer
    flow_step: str | None  # where the active flow is
    pending_slot: str | None  # the slot the active flow asked for
    pending_clarify: dict[str, Any] | None  # {options: [route, route], text: original message}
    offer_resume: str | None  # the parked flow we just offered to resume
    handler: str  # the node that handles this turn (internal)
    replay_text: str | None  # the original message when a clarification picked its route (internal)
    resumed: bool  # this turn resumed a parked flow (internal)
    cancelled_flow: str | None  # set by a cancel command for the acknowledgement (internal)
    notice: str | None  # e.g. "parked:leave" (internal)
    silent: bool  # a person owns the conversation: the bot says nothing this turn (internal)
    preface: str | None  # said before this turn's reply, e.g. a leave decision the employee hasn't heard (internal)


EXPOSED_KEYS = (
    "route",
    "route_info",
    "last_route",
    "active_flow",
    "parked_flows",
    "slots",
    "pending_slot",
    "flow_step",
    "pending_clarify",
    "offer_resume",
    "turn_count",
)


def exposed_state(values: dict[str, Any]) -> dict[str, Any]:
    return {k: values.get(k) for k in EXPOSED_KEYS}


def last_user_text(state: State) -> str:
    """The newest employee message of the thread."""
    for message in reversed(state.get("messages", [])):
        if message.type == "human":
            return str(message.content)
    return ""


def turn_text(state: State) -> str:
    """The message this turn answers: the original one when a clarifying choice replays it, else the newest."""
    return state.get("replay_text") or last_user_text(state)


class FlowTurn(NamedTuple):
    text: str
    active: bool  # this flow is the one waiting for an answer
    slots: dict[str, Any]  # a copy the node may change (empty unless active)
    step: str | None  # where the waiting flow is (None unless active)


def flow_turn(state: State, flow: str) -> FlowTurn:
    """What a flow node reads first: the message, and its own progress if it is the active flow."""
    active = state.get("active_flow") == flow
    return FlowTurn(
        turn_text(state),
        active,
        dict(state.get("slots") or {}) if active else {},
        state.get("flow_step") if active else None,
    )
