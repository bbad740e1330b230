"""Split an article along its headings into chunks that keep the title and section path."""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.documents import Document

MAX_WORDS = 180  # ~1 dense passage for MiniLM (256 word-piece limit) and short enough for the LM prompt
MIN_WORDS = 25  # smaller sections are merged into the next one
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Chunk:
    id: str  # "<doc id>#<n>"
    doc_id: str
    index: int
    section: str  # "Section > Subsection" ("" for the lead)
    text: str  # the passage itself

    def embed_text(self, title: str) -> str:
        """What gets embedded and indexed: the title and section path give the passage its context."""
        head = f"{title} — {self.section}" if self.section else title
        return f"{head}\n{self.text}"


def _sections(body: str, title: str) -> list[tuple[str, str]]:
    """(section path, text) pairs in document order; the top-level ``# Title`` is not part of the path."""
    path: list[tuple[int, str]] = []
    out: list[tuple[str, list[str]]] = [("", [])]
    in_code = False
    for line in body.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        m = None if in_code else _HEADING.match(line)
        if m:
            level, name = len(m.group(1)), m.group(2).strip()
            if level == 1 and name.strip().lower() == title.strip().lower():
                continue
            path = [(lv, n) for lv, n in path if lv < level] + [(level, name)]
            out.append((" > ".join(n for _, n in path), []))
        else:
            out[-1][1].append(line)
    return [(sec, "\n".join(lines).strip()) for sec, lines in out if "\n".join(lines).strip()]


def _split_long(text: str) -> list[str]:
    """Split a long section at paragraph (then sentence) boundaries into pieces of at most MAX_WORDS."""
    if len(text.split()) <= MAX_WORDS:
        return [text]
    units: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        if len(para.split()) <= MAX_WORDS:
            units.append(para)
        else:
            units.extend(re.split(r"(?<=[.!?])\s+", para))
    pieces, current = [], []
    for unit in units:
        if current and len(" ".join(current).split()) + len(unit.split()) > MAX_WORDS:
            pieces.append("\n\n".join(current))
            current = []
        current.append(unit)
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def chunk_document(doc: Document) -> list[Chunk]:
    sections = _sections(doc.body, doc.title)
    merged: list[tuple[str, str]] = []
    carry: tuple[str, str] | None = None
    for section, text in sections:
        if carry is not None:
            heading = "; ".join(h for h in (carry[0], section) if h)
            section, text = heading, f"{carry[1]}\n\n{text}"
            carry = None
        if len(text.split()) < MIN_WORDS and (section, text) != sections[-1]:
            carry = (section, text)
            continue
        merged.append((section, text))
    if carry is not None:
        if merged:
            merged[-1] = (merged[-1][0], f"{merged[-1][1]}\n\n{carry[1]}")
        else:
            merged.append(carry)
    chunks: list[Chunk] = []
    for section, text in merged:
        for piece in _split_long(text):
            chunks.append(Chunk(f"{doc.id}#{len(chunks)}", doc.id, len(chunks), section, piece))
    return chunks
