"""What nodes send to the channel while they run (LangGraph's custom stream)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime


def emit_token(runtime: Runtime[Any], text: str) -> None:
    runtime.stream_writer({"type": "token", "text": text})


def emit_step(runtime: Runtime[Any], name: str, **detail: Any) -> None:
    runtime.stream_writer({"type": "step", "name": name, "detail": detail})
