"""Knowledge agent: cited answers from the knowledge base that never state an unsupported fact.

Evidence first: code picks the sentences of the retrieved passages that answer the question (embedding
similarity plus shared words) and answers with them, each cited (``kb_answer_style="quote"``, the default).
With ``kb_answer_style="rephrase"`` the answering model rewrites the evidence; each sentence it writes is
checked against the evidence before the employee sees it and gets its citation from code, and if the model is
unavailable or states an unsupported number the evidence itself is quoted. Measured on this corpus, the
0.5B embedded model's rephrasings kept every number but often changed the meaning, so quoting is the default;
a larger Ollama model can rephrase.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime

from app.errors import ModelUnavailable
from app.prompts import load_prompt, render_prompt
from graphs.context import Context
from graphs.state import State, turn_text
from graphs.streaming import emit_token
from knowledge.guard import SENTENCE_END, facts, sentence_supported, split_sentences
from knowledge.markdown import strip_markdown
from knowledge.retrieval import Hit, tokenize

log = logging.getLogger(__name__)

MAX_SOURCES = 3
EVIDENCE_SENTENCES = 3  # measured with `concierge eval answers --n 60`: 3 from any source beat 2 (README)
NO_ANSWER_ACTIONS = [
    {"name": "open_ticket", "label": "Open a ticket"},
    {"name": "talk_to_person", "label": "Talk to a person"},
]
_JUNK = ("NOT_IN_SOURCES", "Document", "Fact ", "Question:")


@dataclass(frozen=True)
class Evidence:
    sentence: str
    source: int  # 1-based index into the sources list


def pick_sources(hits: list[Hit]) -> list[Hit]:
    """Up to MAX_SOURCES chunks, best first, at most two per article."""
    chosen: list[Hit] = []
    per_doc: dict[str, int] = {}
    for hit in hits:
        if per_doc.get(hit.doc_id, 0) >= 2:
            continue
        chosen.append(hit)
        per_doc[hit.doc_id] = per_doc.get(hit.doc_id, 0) + 1
        if len(chosen) == MAX_SOURCES:
            break
    return chosen


def source_list(sources: list[Hit]) -> list[dict[str, Any]]:
    return [
        {"n": i + 1, "id": h.doc_id, "title": h.title, "section": h.section, "chunk": h.chunk_id}
        for i, h in enumerate(sources)
    ]


def select_evidence(question: str, sources: list[Hit], scores: list[float], k: int = EVIDENCE_SENTENCES):
    """The ``k`` best sentences (any source) by the retriever's scores plus shared words, in reading order."""
    candidates = [Evidence(s, i + 1) for i, h in enumerate(sources) for s in split_sentences(strip_markdown(h.passage))]
    q = set(tokenize(question))
    ranked = sorted(
        range(len(candidates)),
        key=lambda j: (
            -(scores[j] + 0.04 * len(q & set(tokenize(candidates[j].sentence))) - 0.02 * candidates[j].source)
        ),
    )
    if not ranked:
        return []
    # The best sentence, the one after it in the same passage (a definition is usually followed by its rule),
    # then the next best anywhere.
    best = ranked[0]
    picked = [best]
    if best + 1 < len(candidates) and candidates[best + 1].source == candidates[best].source:
        picked.append(best + 1)
    picked += [j for j in ranked[1:] if j not in picked][: max(0, k - len(picked))]
    return [candidates[j] for j in sorted(picked[:k])]


def evidence_sentences(sources: list[Hit]) -> list[str]:
    return [s for h in sources for s in split_sentences(strip_markdown(h.passage))]


def cite(sentence: str, sources: list[Hit]) -> str:
    """Cite the source that shares the most facts and words with the sentence (the model's own markers go)."""
    sentence = re.sub(r"\s*\[\d+\]", "", sentence).strip()
    words, numbers = set(tokenize(sentence)), facts(sentence)
    best = max(
        range(len(sources)),
        key=lambda i: (len(numbers & facts(sources[i].passage)), len(words & set(tokenize(sources[i].passage))), -i),
    )
    end = sentence[-1] if sentence[-1:] in ".!?" else ""
    return f"{sentence.removesuffix(end).rstrip()} [{best + 1}]{end}"


def extractive_answer(evidence: list[Evidence], sources: list[Hit]) -> str:
    src = sources[evidence[0].source - 1]
    quote = " ".join(e.sentence for e in evidence)
    return render_prompt(
        "knowledge_extractive",
        title=src.title,
        section=src.section or "overview",
        quote=quote,
        n=str(evidence[0].source),
    )


@dataclass(frozen=True)
class Found:
    """What the knowledge base says about a question: the cited passages and the evidence sentences."""

    sources: list[Hit]
    evidence: list[Evidence]

    def quoted(self) -> str:
        return " ".join(cite(e.sentence, self.sources) for e in self.evidence)


async def lookup(ctx: Context, question: str) -> Found | None:
    """Search the knowledge base as this user; None when the gate finds no good answer.

    Used by the knowledge agent and by every agent that proposes documented fixes (incident, leave).
    """
    # Retrieval embeds the query and reads Chroma: blocking work, kept off the event loop.
    retriever = await asyncio.to_thread(lambda: ctx.services.retriever)
    found = await asyncio.to_thread(retriever.retrieve, question, ctx.user, k=6)
    if not found.answerable or not found.hits:
        return None
    sources = pick_sources(found.hits)
    scores = await asyncio.to_thread(retriever.rank_sentences, question, evidence_sentences(sources))
    evidence = select_evidence(question, sources, scores)
    return Found(sources, evidence) if evidence else None


async def knowledge_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Retrieve, answer with citations (guarded), or say plainly that the knowledge base has no answer."""
    ctx = runtime.context
    question = turn_text(state)
    found = await lookup(ctx, question)
    if found is None:
        reply = load_prompt("knowledge_no_answer")
        emit_token(runtime, reply)
        ctx.services.audit.append(ctx.user.id, "knowledge.no_answer", thread_id=ctx.thread_id, question=question)
        return {"messages": [AIMessage(reply)], "sources": [], "actions": NO_ANSWER_ACTIONS}

    sources, evidence = found.sources, found.evidence
    if ctx.settings.kb_answer_style == "rephrase":
        reply, mode = await _answer(runtime, question, evidence, sources)
    else:
        reply, mode = _quote(runtime, evidence, sources), "quoted"
    ctx.services.audit.append(
        ctx.user.id,
        "knowledge.answered",
        thread_id=ctx.thread_id,
        mode=mode,
        sources=[s.doc_id for s in sources],
    )
    return {"messages": [AIMessage(reply)], "sources": source_list(sources), "actions": []}


async def _answer(runtime: Runtime[Context], question: str, evidence: list[Evidence], sources: list[Hit]):
    """Stream the model's checked, cited sentences; fall back to quoting the evidence."""
    ctx = runtime.context
    allowed = [e.sentence for e in evidence]
    prompt = render_prompt("knowledge_answer", facts="\n".join(f"- {e.sentence}" for e in evidence), question=question)
    emitted: list[str] = []
    buffer = ""

    def accept(sentence: str) -> bool:
        unfinished = sentence.rstrip().endswith((":", ",", ";", "-"))
        if unfinished or any(j in sentence for j in _JUNK) or len(sentence.split()) < 3:
            return False
        if not sentence_supported(sentence, allowed):
            return False
        emitted.append(cite(sentence, sources))
        emit_token(runtime, (" " if len(emitted) > 1 else "") + emitted[-1])
        return True

    try:
        model = await asyncio.to_thread(ctx.models.answer)
        async for chunk in model.astream([HumanMessage(prompt)]):
            buffer += chunk.text if isinstance(chunk.text, str) else str(chunk.content)
            *done, buffer = SENTENCE_END.split(buffer)
            for sentence in (s.strip() for s in done if s.strip()):
                if not accept(sentence):
                    return _fallback(runtime, evidence, sources, emitted, f"rejected: {sentence[:80]}")
                if len(emitted) >= 3:
                    return " ".join(emitted), "generated"
        if buffer.strip() and not accept(buffer.strip()):
            return _fallback(runtime, evidence, sources, emitted, f"rejected: {buffer.strip()[:80]}")
    except (ModelUnavailable, ConnectionError, httpx.TransportError) as exc:
        return _fallback(runtime, evidence, sources, emitted, f"model unavailable: {exc}")
    if not emitted:
        return _fallback(runtime, evidence, sources, emitted, "model gave no usable answer")
    return " ".join(emitted), "generated"


def _quote(runtime: Runtime[Context], evidence: list[Evidence], sources: list[Hit]) -> str:
    """The evidence sentences themselves, each cited, streamed one by one."""
    parts = []
    for e in evidence:
        parts.append(cite(e.sentence, sources))
        emit_token(runtime, (" " if len(parts) > 1 else "") + parts[-1])
    return " ".join(parts)


def _fallback(runtime, evidence: list[Evidence], sources: list[Hit], emitted: list[str], why: str):
    log.info("knowledge answer falls back to the evidence (%s)", why)
    if emitted:  # what was already shown is supported and cited; stop there rather than repeat it
        return " ".join(emitted), "generated"
    text = extractive_answer(evidence, sources)
    emit_token(runtime, text)
    return text, "extractive"
