"""A scripted chat model for fast unit tests of logic only (never used by a real deployment)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field


class FakeChatModel(BaseChatModel):
    """Replies with ``responses`` in order (cycling); with none, says which message it received.

    Records every prompt it was given in ``calls`` so tests can assert on what the model saw.
    """

    responses: list[str] = Field(default_factory=list)
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    error: Exception | None = None

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @property
    def _llm_type(self) -> str:
        return "fake-scripted"

    def _next(self, messages: list[BaseMessage]) -> str:
        self.calls.append(list(messages))
        if self.error is not None:
            raise self.error
        if self.responses:
            return self.responses[(len(self.calls) - 1) % len(self.responses)]
        last = messages[-1].content if messages else ""
        return f"(scripted reply) You said: {last}"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._next(messages)))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in re.findall(r"\S+\s*|\s+", self._next(messages)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    def bind_tools(self, tools: Any, **kwargs: Any) -> FakeChatModel:
        return self
