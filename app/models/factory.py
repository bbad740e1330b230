"""Model factory: map a configured name to a LangChain chat model (cached per process)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from langchain_core.language_models.chat_models import BaseChatModel

from app.models.embedded import EmbeddedChatModel
from app.models.fake import FakeChatModel
from app.models.gguf import resolve_gguf
from app.models.ollama import make_ollama
from app.settings import Settings, validate_model_spec


def get_chat_model(spec: str, settings: Settings, *, max_tokens: int | None = None) -> BaseChatModel:
    """``embedded`` | ``embedded:<name|path.gguf>`` | ``ollama:<model>`` | ``fake``.

    Raises ModelUnavailable with an operator-readable sentence when the model cannot be had.
    """
    spec = validate_model_spec(spec)
    tokens = max_tokens or settings.max_answer_tokens
    if spec == "fake":
        return FakeChatModel()
    kind, _, name = spec.partition(":")
    if kind == "ollama":
        return _ollama(
            name, settings.ollama_base_url, settings.temperature, tokens, settings.ollama_timeout_s
        )
    path = resolve_gguf(name or None, settings.data_dir / "models", settings.embedded_model)
    return _embedded(path, settings.llm_context, settings.llm_threads, settings.temperature, tokens)


@lru_cache(maxsize=8)
def _embedded(path: Path, n_ctx: int, n_threads: int, temperature: float, max_tokens: int) -> BaseChatModel:
    return EmbeddedChatModel(
        model_path=path, n_ctx=n_ctx, n_threads=n_threads, temperature=temperature, max_tokens=max_tokens
    )


def _ollama(model: str, base_url: str, temperature: float, max_tokens: int, timeout: float) -> BaseChatModel:
    return make_ollama(model, base_url, temperature, max_tokens, timeout)
