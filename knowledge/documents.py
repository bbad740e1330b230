"""Knowledge articles: Markdown (or plain text) with YAML front matter, parsed and validated per file."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CATEGORIES = ("it", "hr", "security", "facilities", "finance")
AUDIENCES = ("all", "managers", "hr", "it")
RETENTION = ("standard", "regulated", "temporary")
SUFFIXES = (".md", ".markdown", ".txt")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,80}$")


class DocumentError(ValueError):
    """A document could not be read; ``reason`` says why in a sentence."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    category: str
    audience: tuple[str, ...]
    owner: str
    last_reviewed: str
    retention: str
    body: str
    path: str
    content_hash: str
    extra: dict = field(default_factory=dict, compare=False, hash=False)


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:32]


def _split_front_matter(text: str) -> tuple[str | None, str]:
    if not text.startswith("---"):
        return None, text
    parts = text.split("\n", 1)
    if len(parts) < 2:
        return None, text
    end = re.search(r"^---\s*$", parts[1], flags=re.M)
    if end is None:
        raise ValueError("front matter starts with '---' but has no closing '---' line")
    return parts[1][: end.start()], parts[1][end.end() :].lstrip("\n")


def parse_document(path: Path, raw: bytes | None = None) -> Document:
    """Read one article. Markdown needs front matter; plain text without it gets safe defaults."""
    raw = path.read_bytes() if raw is None else raw
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if "\x00" in text:
        raise DocumentError(path, "binary content (NUL bytes)")
    try:
        fm_text, body = _split_front_matter(text.replace("\r\n", "\n"))
    except ValueError as exc:
        raise DocumentError(path, str(exc)) from None
    if fm_text is None:
        if path.suffix.lower() != ".txt":
            raise DocumentError(path, "missing front matter (a '---' block with id, title, category, audience, ...)")
        first = next((ln.strip("# ").strip() for ln in body.splitlines() if ln.strip()), path.stem)
        meta: dict = {"id": path.stem.lower(), "title": first, "category": "it", "audience": ["all"]}
    else:
        try:
            meta = yaml.safe_load(fm_text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 2})" if mark else ""
            problem = getattr(exc, "problem", exc)
            raise DocumentError(path, f"front matter is not valid YAML{where}: {problem}") from None
        if not isinstance(meta, dict):
            raise DocumentError(path, "front matter must be a mapping of fields")
    return _validate(path, meta, body, content_hash(raw))


def _validate(path: Path, meta: dict, body: str, digest: str) -> Document:
    def need(key: str) -> str:
        value = meta.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DocumentError(path, f"front matter field '{key}' is missing")
        return str(value).strip()

    doc_id = need("id").lower()
    if not _ID.match(doc_id):
        raise DocumentError(path, f"id {doc_id!r} must be lowercase letters, digits, '.', '_' or '-'")
    category = need("category").lower()
    if category not in CATEGORIES:
        raise DocumentError(path, f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    audience = meta.get("audience", ["all"])
    if isinstance(audience, str):
        audience = [a.strip() for a in audience.split(",")]
    if not isinstance(audience, list) or not audience:
        raise DocumentError(path, "audience must be a list, e.g. [all] or [managers, hr]")
    audience = [str(a).lower() for a in audience]
    bad = [a for a in audience if a not in AUDIENCES]
    if bad:
        raise DocumentError(path, f"audience {bad[0]!r} is not one of {', '.join(AUDIENCES)}")
    retention = str(meta.get("retention", "standard")).lower()
    if retention not in RETENTION:
        raise DocumentError(path, f"retention {retention!r} is not one of {', '.join(RETENTION)}")
    reviewed = meta.get("last_reviewed", "")
    if isinstance(reviewed, dt.date):
        reviewed = reviewed.isoformat()
    if not body.strip():
        raise DocumentError(path, "the article has no text after the front matter")
    known = {"id", "title", "category", "audience", "owner", "last_reviewed", "retention"}
    return Document(
        id=doc_id,
        title=need("title"),
        category=category,
        audience=tuple(dict.fromkeys(audience)),
        owner=str(meta.get("owner", "")).strip(),
        last_reviewed=str(reviewed),
        retention=retention,
        body=body,
        path=str(path),
        content_hash=digest,
        extra={k: v for k, v in meta.items() if k not in known},
    )


def iter_document_paths(root: Path) -> list[Path]:
    """Every article file under ``root`` (or ``root`` itself), sorted; the eval folder is not content."""
    if root.is_file():
        return [root]
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES and "eval" not in p.parts
    )
