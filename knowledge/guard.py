"""Faithfulness checks: an answer may only state numbers, dates and codes found in its sources."""

from __future__ import annotations

import re

# Sentence ends, but not after common abbreviations ("ext. 4357", "e.g. Teams", "approx. 5").
SENTENCE_END = re.compile(
    r"(?<!\bext\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bno\.)(?<!\bapprox\.)(?<!\betc\.)(?<!\bvs\.)"
    r"(?<=[.!?])\s+|\n+"
)
_FACT = re.compile(r"[A-Z]{2,}-?\d+|\d+(?:[.,:]\d+)*")
_CITATION = re.compile(r"\[(\d{1,2})\]")
_MONTHS = tuple("january february march april may june july august september october november december".split())


def facts(text: str) -> set[str]:
    """Checkable tokens: numbers (with their separators normalised) and codes like GP-1003 or INC0012345."""
    out = set()
    for m in _FACT.findall(text):
        out.add(m.replace(",", "").upper())
    return out


def unsupported_facts(sentence: str, sources: list[str]) -> set[str]:
    """Facts in ``sentence`` that appear in none of the sources (the question does not count as a source)."""
    allowed: set[str] = set()
    for text in sources:
        allowed |= facts(text)
    # Citation markers like [1] are not facts.
    claimed = facts(_CITATION.sub("", sentence))
    return {f for f in claimed if f not in allowed}


def unsupported_months(sentence: str, sources: list[str]) -> set[str]:
    joined = " ".join(sources).lower()
    return {m for m in _MONTHS if re.search(rf"\b{m}\b", sentence.lower()) and m not in joined}


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def citations(text: str) -> set[int]:
    return {int(n) for n in _CITATION.findall(text)}


def sentence_supported(sentence: str, sources: list[str]) -> bool:
    if unsupported_facts(sentence, sources) or unsupported_months(sentence, sources):
        return False
    cited = citations(sentence)
    return all(1 <= n <= len(sources) for n in cited)
