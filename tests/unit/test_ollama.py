"""The Ollama path fails fast, in one clear sentence, when the server is down or hangs."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest

from app.errors import ModelUnavailable
from app.models.factory import get_chat_model
from app.models.ollama import PROBE_TIMEOUT_S, check_ollama
from app.settings import Settings, load_settings

MODEL = "qwen2.5:1.5b"
LIMIT_S = 2.0


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment would answer instead of the closed port."""
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def closed_url() -> str:
    """A local port nothing listens on (bound to get a free number, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that accepts the TCP connection but never sends a byte back."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def assert_one_clear_sentence(message: str, url: str) -> None:
    assert url in message
    assert "ollama serve" in message
    assert "CONCIERGE_MODEL=embedded" in message
    assert "\n" not in message
    assert message.endswith(".")
    # One sentence: no sentence end followed by a new sentence (dots inside URLs/model names are fine).
    assert not re.search(r"[.!?]\s+[A-Z]", message), message


def _check(url: str) -> tuple[ModelUnavailable, float]:
    started = time.perf_counter()
    with pytest.raises(ModelUnavailable) as info:
        check_ollama(url, MODEL)
    return info.value, time.perf_counter() - started


def test_probe_timeout_is_short() -> None:
    assert PROBE_TIMEOUT_S <= 1.5


def test_closed_port_fails_fast_with_one_sentence(closed_url: str) -> None:
    err, elapsed = _check(closed_url)
    assert elapsed < LIMIT_S
    assert_one_clear_sentence(str(err), closed_url)
    assert err.user_message == str(err)


def test_listening_but_silent_server_still_fails_within_2s(silent_url: str) -> None:
    err, elapsed = _check(silent_url)
    assert elapsed < LIMIT_S, f"probe took {elapsed:.2f}s"
    assert_one_clear_sentence(str(err), silent_url)


@pytest.mark.parametrize("which", ["closed", "silent"])
def test_get_chat_model_ollama_raises_model_unavailable_quickly(
    which: str, closed_url: str, silent_url: str, tmp_path
) -> None:
    pytest.importorskip("langchain_ollama")  # imported once here so its import time is not measured
    url = closed_url if which == "closed" else silent_url
    settings: Settings = load_settings(
        data_dir=tmp_path, model=f"ollama:{MODEL}", small_model="fake", ollama_base_url=url, _env_file=None
    )
    started = time.perf_counter()
    with pytest.raises(ModelUnavailable) as info:
        get_chat_model(f"ollama:{MODEL}", settings)
    elapsed = time.perf_counter() - started
    assert elapsed < LIMIT_S, f"took {elapsed:.2f}s"
    assert_one_clear_sentence(str(info.value), url)
