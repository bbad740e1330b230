"""The real embedded llama.cpp models behind ``get_chat_model``: streaming, JSON-schema output, failures.

The Qwen GGUF (~500 MB) is assembled once into ``$CONCIERGE_TEST_MODELS_DIR/models`` (default: the repo's
``data/models``, which the app uses too) and reused by later runs thanks to its sha256 stamp.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Literal

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from app.errors import ModelUnavailable
from app.models.embedded import EmbeddedChatModel, load_llama, normalize_response_format
from app.models.factory import get_chat_model
from app.models.gguf import assemble_parts, check_gguf_file, smollm_path, verify_sha256
from app.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


def _models_data_dir() -> Path:
    return Path(os.environ.get("CONCIERGE_TEST_MODELS_DIR", REPO / "data")).expanduser().resolve()


@pytest.fixture(scope="session")
def model_settings() -> Settings:
    """Settings shared by every model test, so the GGUF is assembled and each model loaded once."""
    return load_settings(
        data_dir=_models_data_dir(),
        model="embedded",
        small_model="embedded:smollm2-135m",
        embedded_model=None,
        max_answer_tokens=48,
        _env_file=None,
    )


class LeaveRequest(BaseModel):
    leave_type: Literal["annual", "sick", "parental", "unpaid", "other"]
    start: str
    end: str


LEAVE_SCHEMA = {
    "type": "object",
    "properties": {
        "leave_type": {"type": "string", "enum": ["annual", "sick", "parental", "unpaid", "other"]},
        "start": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "end": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
    },
    "required": ["leave_type", "start", "end"],
}
LEAVE_PROMPT = [
    SystemMessage("Today is 2025-02-20. Extract the leave request as JSON with leave_type, start, end."),
    HumanMessage("I want annual leave from 3 to 7 March, back on the 10th."),
]


# ---------------------------------------------------------------------------------------------- Qwen


@pytest.mark.slow
def test_embedded_streams_many_chunks(model_settings: Settings) -> None:
    model = get_chat_model("embedded", model_settings)
    assert isinstance(model, EmbeddedChatModel)
    chunks = [c.content for c in model.stream([HumanMessage("List three colours, comma separated.")])]
    texts = [c for c in chunks if c]
    assert len(texts) > 1, chunks
    assert "".join(texts).strip()


@pytest.mark.slow
def test_embedded_invoke_reports_usage(model_settings: Settings) -> None:
    model = get_chat_model("embedded", model_settings)
    reply = model.invoke([HumanMessage("What is the capital of France? One word.")])
    assert "paris" in str(reply.content).lower()
    assert reply.usage_metadata and reply.usage_metadata["output_tokens"] > 0
    assert reply.response_metadata["finish_reason"] in ("stop", "length")


@pytest.mark.slow
async def test_embedded_astream(model_settings: Settings) -> None:
    """The respond node uses ``astream``; it must stream too, not deliver one block."""
    model = get_chat_model("embedded", model_settings)
    texts = [c.content async for c in model.astream([HumanMessage("Count from 1 to 5.")]) if c.content]
    assert len(texts) > 1


@pytest.mark.slow
def test_embedded_uses_gguf_chat_template(model_settings: Settings) -> None:
    for spec in ("embedded", "embedded:smollm2-135m"):
        model = get_chat_model(spec, model_settings)
        llm, _ = load_llama(model.model_path, model.n_ctx, model.n_threads)
        assert llm.chat_format == "chat_template.default", spec  # the template from the GGUF metadata
        assert llm.n_threads >= 1 and llm.n_threads <= (os.cpu_count() or 1)


@pytest.mark.slow
def test_json_schema_output_is_constrained(model_settings: Settings) -> None:
    model = get_chat_model("embedded", model_settings, max_tokens=64)
    out = model.invoke(LEAVE_PROMPT, response_format={"type": "json_object", "schema": LEAVE_SCHEMA})
    request = LeaveRequest.model_validate_json(str(out.content))
    assert request.leave_type == "annual"
    assert request.start.endswith("-03-03")


@pytest.mark.slow
def test_json_schema_via_bind_and_stream(model_settings: Settings) -> None:
    model = get_chat_model("embedded", model_settings, max_tokens=64)
    bound = model.bind(response_format={"type": "json_object", "schema": LEAVE_SCHEMA})
    text = "".join(str(c.content) for c in bound.stream(LEAVE_PROMPT))
    LeaveRequest.model_validate_json(text)


@pytest.mark.slow
def test_openai_style_json_schema_is_not_silently_ignored(model_settings: Settings) -> None:
    """llama-cpp-python only constrains ``json_object``; the OpenAI form must be translated, not dropped."""
    model = get_chat_model("embedded", model_settings, max_tokens=64)
    fmt = {"type": "json_schema", "json_schema": {"name": "leave", "schema": LEAVE_SCHEMA}}
    out = model.invoke([HumanMessage("Tell me a joke.")], response_format=fmt)
    assert isinstance(json.loads(str(out.content)), dict)


def test_normalize_response_format() -> None:
    schema = LeaveRequest.model_json_schema()
    assert normalize_response_format(None) is None
    assert normalize_response_format({"type": "text"}) is None
    assert normalize_response_format(LeaveRequest) == {"type": "json_object", "schema": schema}
    assert normalize_response_format({"type": "json_object"}) == {"type": "json_object"}
    openai = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert normalize_response_format(openai) == {"type": "json_object", "schema": schema}
    with pytest.raises(ValueError, match="unsupported"):
        normalize_response_format({"type": "yaml"})


@pytest.mark.slow
def test_loading_and_generating_print_nothing_to_stdout(model_settings: Settings) -> None:
    """llama.cpp must not write its load log to stdout (the CLI and JSON output share it)."""
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from app.models.factory import get_chat_model
        from app.settings import load_settings
        s = load_settings(data_dir=Path({str(model_settings.data_dir)!r}), _env_file=None)
        for spec in ("embedded", "embedded:smollm2-135m"):
            get_chat_model(spec, s, max_tokens=4).invoke("hi")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "llama_model_loader" not in proc.stderr and "load_tensors" not in proc.stderr


# ---------------------------------------------------------------------------------------------- SmolLM2


@pytest.mark.slow
def test_smollm2_loads_and_generates(model_settings: Settings) -> None:
    model = get_chat_model("embedded:smollm2-135m", model_settings, max_tokens=24)
    assert model.model_path.name.lower().startswith("smollm2")
    reply = model.invoke([HumanMessage("Say hello.")])
    assert str(reply.content).strip()
    streamed = [c.content for c in model.stream([HumanMessage("Say hello.")]) if c.content]
    assert len(streamed) > 1


# ---------------------------------------------------------------------------------------------- failures


def test_missing_gguf_path_is_model_unavailable(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="does not exist"):
        get_chat_model(f"embedded:{tmp_path / 'missing.gguf'}", settings)


def test_non_gguf_file_is_model_unavailable(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_text("this is not a model")
    with pytest.raises(ModelUnavailable, match="not a GGUF"):
        get_chat_model(f"embedded:{bad}", settings)


def test_corrupt_gguf_fails_on_load_with_model_unavailable(settings: Settings, tmp_path: Path) -> None:
    """A file with the right magic but garbage inside gets past the factory; loading it must not crash."""
    bad = tmp_path / "truncated.gguf"
    with smollm_path().open("rb") as real:
        bad.write_bytes(real.read(64 * 1024))  # a real header, then the file just stops
    model = get_chat_model(f"embedded:{bad}", settings)
    with pytest.raises(ModelUnavailable, match="could not load"):
        model.invoke("hello")
    with pytest.raises(ModelUnavailable):
        list(model.stream("hello"))


def test_check_gguf_file(tmp_path: Path) -> None:
    good = tmp_path / "ok.gguf"
    good.write_bytes(b"GGUF\x03\x00\x00\x00")
    assert check_gguf_file(good) == good
    with pytest.raises(ModelUnavailable, match="does not exist"):
        check_gguf_file(tmp_path / "nope.gguf")
    with pytest.raises(ModelUnavailable):
        check_gguf_file(tmp_path)  # a directory


# ---------------------------------------------------------------------------------------------- sha256


def test_verify_sha256_accepts_right_and_rejects_wrong_file(tmp_path: Path) -> None:
    f = tmp_path / "weights.bin"
    f.write_bytes(b"concierge model bytes")
    right = hashlib.sha256(b"concierge model bytes").hexdigest()
    verify_sha256(f, right)
    verify_sha256(f, right.upper())
    with pytest.raises(ModelUnavailable, match="sha256"):
        verify_sha256(f, hashlib.sha256(b"something else").hexdigest())
    with pytest.raises(ModelUnavailable):
        verify_sha256(tmp_path / "missing.bin", right)


def test_assemble_parts_verifies_before_the_file_appears(tmp_path: Path) -> None:
    parts = []
    for i, data in enumerate((b"GGUF-part-one-", b"part-two-", b"part-three")):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(data)
        parts.append(p)
    whole = b"GGUF-part-one-part-two-part-three"
    out_dir = tmp_path / "models"

    with pytest.raises(ModelUnavailable, match="sha256"):
        assemble_parts(parts, out_dir / "model.gguf", hashlib.sha256(b"tampered").hexdigest())
    assert not (out_dir / "model.gguf").exists()
    assert list(out_dir.iterdir()) == []  # no half-written temp file left behind

    target = assemble_parts(parts, out_dir / "model.gguf", hashlib.sha256(whole).hexdigest())
    assert target.read_bytes() == whole
    assert target.stat().st_mode & 0o044 == 0o044  # readable by the service user, not 0600
    assert (out_dir / "model.gguf.sha256").read_text().strip() == hashlib.sha256(whole).hexdigest()


@pytest.mark.slow
def test_assembled_qwen_matches_its_sha256(model_settings: Settings) -> None:
    from app.models.gguf import QWEN_SHA256, qwen_path

    path = qwen_path(model_settings.data_dir / "models")
    verify_sha256(path, QWEN_SHA256)
