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
from pydantic import BaseModel, ConfigDict, Field

from app.errors import ModelUnavailable

log = logging.getLogger(__name__)

_LOADED: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_LOAD_LOCK = threading.Lock()

#: Prompt-processing batch. On 2 CPU cores 256 is as fast as llama.cpp's 512 and keeps the scratch buffers small.
N_BATCH = 256

#: Sampling options passed through to ``create_chat_completion`` when given as invoke/bind kwargs.
_PASSTHROUGH = (
    "top_p",
    "top_k",
    "min_p",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "logit_bias",
    "grammar",
)


def cpu_threads() -> int:
    """Cores this process may run on (the container's, not the host's)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(os.cpu_count() or 1, 1)


def llama_kwargs(path: Path, n_ctx: int, n_threads: int) -> dict[str, Any]:
    """The ``llama_cpp.Llama`` arguments used by the app (also used by the benchmark).

    ``n_threads`` 0 means one thread per core: fastest on an otherwise idle machine. llama.cpp's threads
    busy-wait for each other, so when other processes compete for the cores that setting collapses (3-5x
    slower measured on 2 cores, see benchmarks/results/models.md); there ``CONCIERGE_LLM_THREADS=1`` is better.
    """
    threads = n_threads or cpu_threads()
    return {
        "model_path": str(path),
        "n_ctx": n_ctx,
        "n_threads": threads,
        "n_threads_batch": threads,
        "n_batch": min(N_BATCH, n_ctx),
        "verbose": False,  # the chat template still comes from the GGUF metadata (tokenizer.chat_template)
    }


def load_llama(path: Path, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    """One llama.cpp instance per (file, context, threads) per process, with a lock: it is not thread-safe."""
    key = (str(path), n_ctx, n_threads)
    with _LOAD_LOCK:
        if key not in _LOADED:
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - install problem
                raise ModelUnavailable("llama-cpp-python is not installed; run `make setup`") from exc
            if not Path(path).is_file():
                raise ModelUnavailable(f"GGUF model file {path} does not exist")
            started = time.perf_counter()
            try:
                llm = Llama(**llama_kwargs(path, n_ctx, n_threads))
            except Exception as exc:  # llama.cpp reports bad files as ValueError, RuntimeError, OSError...
                raise ModelUnavailable(f"could not load GGUF model {path}: {exc}") from exc
            log.info(
                "loaded %s in %.1fs (chat format %s, %d threads)",
                Path(path).name,
                time.perf_counter() - started,
                llm.chat_format,
                llm.n_threads,
            )
            _LOADED[key] = (llm, threading.Lock())
        return _LOADED[key]


def _role(message: BaseMessage) -> str:
    if message.type == "chat":  # ChatMessage carries its own role
        return str(getattr(message, "role", "user"))
    return {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}.get(message.type, "user")


def _text(message: BaseMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    text = getattr(message, "text", "")  # a property in langchain-core 1.x, a method in 0.3
    return str(text() if callable(text) else text)


def to_llama_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _role(m), "content": _text(m)} for m in messages]


def normalize_response_format(fmt: Any) -> dict[str, Any] | None:
    """Accept the llama.cpp form ``{"type": "json_object", "schema": {...}}`` and also the OpenAI form
    ``{"type": "json_schema", "json_schema": {"schema": {...}}}``, a bare JSON schema or a pydantic class.

    llama-cpp-python only builds a grammar for ``type == "json_object"``; anything else would silently give
    unconstrained text, so unknown forms are rejected."""
    if fmt is None:
        return None
    if isinstance(fmt, type) and issubclass(fmt, BaseModel):
        return {"type": "json_object", "schema": fmt.model_json_schema()}
    if not isinstance(fmt, dict):
        raise ValueError(f"response_format must be a dict or a pydantic model class, not {type(fmt).__name__}")
    kind = fmt.get("type")
    if kind == "json_object":
        return fmt
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema", spec) if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise ValueError("response_format json_schema has no schema")
        return {"type": "json_object", "schema": schema}
    if kind == "text":
        return None
    if "properties" in fmt or kind == "object":
        return {"type": "json_object", "schema": fmt}
    raise ValueError(f"unsupported response_format type {kind!r}; use {{'type': 'json_object', 'schema': ...}}")


def _usage(raw: dict[str, Any]) -> dict[str, int]:
    prompt = int(raw.get("prompt_tokens") or 0)
    completion = int(raw.get("completion_tokens") or 0)
    return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}


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
        params: dict[str, Any] = {
            "temperature": kwargs.get("temperature", self.temperature),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "stop": ((stop or []) + self.stop) or None,
        }
        fmt = normalize_response_format(kwargs.get("response_format"))
        if fmt is not None:
            params["response_format"] = fmt
        params.update({k: kwargs[k] for k in _PASSTHROUGH if kwargs.get(k) is not None})
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params = self._params(stop, kwargs)
        llm, lock = load_llama(self.model_path, self.n_ctx, self.n_threads)
        with lock:
            out = llm.create_chat_completion(messages=to_llama_messages(messages), **params)
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        msg = AIMessage(
            content=choice["message"].get("content") or "",
            response_metadata={"finish_reason": choice.get("finish_reason"), "usage": usage},
            usage_metadata=_usage(usage),
        )
        return ChatResult(generations=[ChatGeneration(message=msg)], llm_output={"usage": usage})

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        params = self._params(stop, kwargs)
        llm, lock = load_llama(self.model_path, self.n_ctx, self.n_threads)
        with lock:
            stream = llm.create_chat_completion(messages=to_llama_messages(messages), stream=True, **params)
            try:
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
            finally:
                # When the consumer stops early, end llama.cpp's generator now, while we still hold the lock,
                # rather than whenever it is garbage collected (possibly during another request).
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
