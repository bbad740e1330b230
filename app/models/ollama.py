"""Ollama client path: fail fast, in one sentence, when the server does not answer."""

from __future__ import annotations

import httpx

from app.errors import ModelUnavailable

PROBE_TIMEOUT_S = 1.5


def unreachable_message(base_url: str, model: str) -> str:
    return (
        f"Ollama is not answering at {base_url}: start it with `ollama serve` and `ollama pull {model}`, "
        "or set CONCIERGE_MODEL=embedded (and CONCIERGE_SMALL_MODEL=embedded) to use the built-in model."
    )


def check_ollama(base_url: str, model: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Raise ModelUnavailable (with a one-sentence fix) unless the server answers and has ``model`` pulled."""
    try:
        resp = httpx.get(base_url.rstrip("/") + "/api/tags", timeout=timeout)
        resp.raise_for_status()
        names = {m.get("name", "") for m in resp.json().get("models", [])}
    except (httpx.HTTPError, ValueError) as exc:
        msg = unreachable_message(base_url, model)
        raise ModelUnavailable(msg, user_message=msg) from exc
    wanted = model if ":" in model else f"{model}:latest"
    if wanted not in names and model not in names:
        msg = f"Ollama at {base_url} does not have the model {model}: run `ollama pull {model}`."
        raise ModelUnavailable(msg, user_message=msg)


def make_ollama(model: str, base_url: str, temperature: float, max_tokens: int, timeout: float):
    check_ollama(base_url, model)  # before the (slow) import, so a dead server is reported at once
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=model,
        base_url=base_url,
        temperature=temperature,
        num_predict=max_tokens,
        client_kwargs={"timeout": timeout},
    )
