"""Answer with the configured answering model, streaming tokens to the channel as they are written."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langgraph.runtime import Runtime

from app.prompts import render_prompt
from graphs.context import Context
from graphs.state import State
from graphs.streaming import emit_token


def build_prompt(state: State, ctx: Context) -> list[BaseMessage]:
    """System prompt plus the most recent turns (already redacted when they entered the state)."""
    system = render_prompt(
        "assistant",
        today=ctx.today.isoformat(),
        user_name=ctx.user.name.split()[0],
        department=ctx.user.department or "unknown department",
    )
    history = list(state.get("messages", []))[-(ctx.settings.history_turns + 1) :]
    return [SystemMessage(system), *history]


async def respond_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Stream the model's reply token by token; the full text becomes the turn's AI message."""
    ctx = runtime.context
    # Creating the model may assemble or load a GGUF file: never on the event loop.
    model = await asyncio.to_thread(ctx.models.answer)
    parts: list[str] = []
    async for chunk in model.astream(build_prompt(state, ctx)):
        text = chunk.text if isinstance(chunk.text, str) else str(chunk.content)
        if text:
            parts.append(text)
            emit_token(runtime, text)
    reply = "".join(parts).strip() or "Sorry, I don't have an answer for that. Shall I open a ticket for you?"
    return {"messages": [AIMessage(reply)]}
