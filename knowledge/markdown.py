"""Turn a Markdown passage into plain sentences for quoting to an employee."""

from __future__ import annotations

import re


def strip_markdown(text: str) -> str:
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if re.fullmatch(r"\|?\s*:?-{2,}.*", s):  # table separator row
            continue
        if s.startswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            s = ": ".join(c for c in cells if c) + "."
        s = re.sub(r"^#{1,6}\s+", "", s)
        s = re.sub(r"^([-*+]|\d+[.)])\s+", "", s)
        s = re.sub(r"(\*\*|__|`)", "", s)
        s = re.sub(r"(?<!\w)[*_](\S[^*_]*\S|\S)[*_](?!\w)", r"\1", s)
        s = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", s)
        if s:
            lines.append(s if re.search(r"[.!?:]$", s) else s + ".")
    return " ".join(lines)
