"""An in-process llama.cpp chat model as a LangChain ``BaseChatModel`` (streaming, JSON-schema output)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from app.errors import ModelUnavailable

log = logging.getLogger(__name__)

_LOADED: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_LOAD_LOCK = threading.Lock()


def load_llama(path: Path, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    """One llama.cpp instance per (file, context, threads) per process, with a lock: it is not thread-safe."""
    key = (str(path), n_ctx, n_threads)
    with _LOAD_LOCK:
        if key not in _LOADED:
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - install problem
                raise ModelUnavailable("llama-cpp-python is not installed; run `make setup`") from exc
            started = time.perf_counter()
            try:
                llm = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads or (os.cpu_count() or 1),
                    n_batch=256,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelUnavailable(f"could not load GGUF model {path}: {exc}") from exc
            log.info("loaded %s in %.1fs", path.name, time.perf_counter() - started)
            _LOADED[key] = (llm, threading.Lock())
        return _LOADED[key]


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}.get(message.type, "user")


def to_llama_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _role(m), "content": m.text if hasattr(m, "text") else str(m.content)} for m in messages]


class EmbeddedChatModel(BaseChatModel):
    """llama.cpp in this process. Pass ``response_format={"type": "json_object", "schema": {...}}`` to
    constrain the output with a grammar generated from the JSON schema."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: Path
    n_ctx: int = 2048
    n_threads: int = 0
    temperature: float = 0.0
    max_tokens: int = 200
    stop: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-embedded"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": str(self.model_path), "n_ctx": self.n_ctx}

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        params = {
            "temperature": kwargs.pop("temperature", self.temperature),
            "max_tokens": kwargs.pop("max_tokens", self.max_tokens),
            "stop": (stop or []) + self.stop or None,
        }
        if "response_format" in kwargs:
            params["response_format"] = kwargs.pop("response_format")
        if "grammar" in kwargs:
            params["grammar"] = kwargs.pop("grammar")
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        llm, lock = load_llama(self.model_path, self.n_ctx, self.n_threads)
        with lock:
            out = llm.create_chat_completion(
                messages=to_llama_messages(messages), **self._params(stop, kwargs)
            )
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        msg = AIMessage(
            content=choice["message"].get("content") or "",
            response_metadata={"finish_reason": choice.get("finish_reason"), "usage": usage},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)], llm_output={"usage": usage})

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        llm, lock = load_llama(self.model_path, self.n_ctx, self.n_threads)
        with lock:
            stream = llm.create_chat_completion(
                messages=to_llama_messages(messages), stream=True, **self._params(stop, kwargs)
            )
            for part in stream:
                choice = part["choices"][0]
                text = choice.get("delta", {}).get("content") or ""
                finish = choice.get("finish_reason")
                if not text and not finish:
                    continue
                chunk = ChatGenerationChunk(
                    message=AIMessageChunk(
                        content=text, response_metadata={"finish_reason": finish} if finish else {}
                    )
                )
                if run_manager and text:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
