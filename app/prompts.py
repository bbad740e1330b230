"""Prompt templates live as files in ``prompts/``; code loads them by name."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@lru_cache(maxsize=64)
def load_prompt(name: str) -> str:
    """Return the text of ``prompts/<name>.md`` (without a trailing newline)."""
    path = PROMPTS_DIR / f"{name}.md"
    if not path.is_file():
        raise FileNotFoundError(f"prompt {name!r} not found at {path}")
    return path.read_text(encoding="utf-8").strip()


def render_prompt(name: str, **values: str) -> str:
    """Fill ``{placeholders}`` in a prompt; unknown braces are left alone."""
    text = load_prompt(name)
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


@lru_cache(maxsize=16)
def _reply_book(book: str) -> dict[str, str]:
    import yaml

    path = PROMPTS_DIR / f"{book}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"reply book {book!r} not found at {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v).strip() for k, v in data.items()}


def reply(book: str, key: str, **values: object) -> str:
    """A fixed reply from ``prompts/<book>.yaml`` (one file per agent), with ``{placeholders}`` filled."""
    text = _reply_book(book)[key]
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text
