"""Knowledge agent: cited answers from the knowledge base that never state an unsupported fact.

The model's answer streams sentence by sentence; each sentence is checked against the retrieved text
before the employee sees it. If a sentence is unsupported, or the model is unavailable, the rest of the
answer is an extractive quote of the best passage, cited.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime

from app.errors import ModelUnavailable
from app.prompts import load_prompt, render_prompt
from graphs.context import Context
from graphs.state import State, last_user_text
from graphs.streaming import emit_token
from knowledge.guard import SENTENCE_END, sentence_supported, split_sentences
from knowledge.markdown import strip_markdown
from knowledge.retrieval import Hit, tokenize

log = logging.getLogger(__name__)

MAX_SOURCES = 3
MAX_SOURCE_WORDS = 140
NO_ANSWER_ACTIONS = [
    {"name": "open_ticket", "label": "Open a ticket"},
    {"name": "talk_to_person", "label": "Talk to a person"},
]


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


def format_sources(sources: list[Hit]) -> str:
    lines = []
    for i, h in enumerate(sources, 1):
        words = h.passage.split()
        text = " ".join(words[:MAX_SOURCE_WORDS]) + (" …" if len(words) > MAX_SOURCE_WORDS else "")
        lines.append(f"[{i}] {h.title} — {h.section or 'Overview'}: {text}")
    return "\n".join(lines)


def extractive_answer(question: str, sources: list[Hit]) -> str:
    """Quote the one or two sentences of the best source that share the most words with the question."""
    best = sources[0]
    q = set(tokenize(question))
    sentences = split_sentences(strip_markdown(best.passage)) or [strip_markdown(best.passage)]
    scored = sorted(range(len(sentences)), key=lambda i: (-len(q & set(tokenize(sentences[i]))), i))
    top = sorted(scored[:2])
    quote = " ".join(sentences[i] for i in top)
    return render_prompt(
        "knowledge_extractive", title=best.title, section=best.section or "overview", quote=quote.strip()
    )


async def knowledge_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Retrieve, answer with citations (guarded), or say plainly that the knowledge base has no answer."""
    ctx = runtime.context
    question = state.get("replay_text") or last_user_text(state)
    # Retrieval embeds the query and reads Chroma: blocking work, kept off the event loop.
    retriever = await asyncio.to_thread(lambda: ctx.services.retriever)
    found = await asyncio.to_thread(retriever.retrieve, question, ctx.user, k=6)
    hits = found.hits
    if not found.answerable or not hits:
        reply = load_prompt("knowledge_no_answer")
        emit_token(runtime, reply)
        ctx.services.audit.append(ctx.user.id, "knowledge.no_answer", thread_id=ctx.thread_id, question=question)
        return {"messages": [AIMessage(reply)], "sources": [], "actions": NO_ANSWER_ACTIONS}

    sources = pick_sources(hits)
    texts = [s.passage for s in sources]
    reply, mode = await _guarded_answer(runtime, question, sources, texts)
    ctx.services.audit.append(
        ctx.user.id,
        "knowledge.answered",
        thread_id=ctx.thread_id,
        mode=mode,
        sources=[s.doc_id for s in sources],
    )
    return {"messages": [AIMessage(reply)], "sources": source_list(sources), "actions": []}


async def _guarded_answer(runtime: Runtime[Context], question: str, sources: list[Hit], texts: list[str]):
    """Stream checked sentences; switch to the extractive answer at the first unsupported one."""
    ctx = runtime.context
    prompt = render_prompt("knowledge_answer", sources=format_sources(sources), question=question)
    emitted: list[str] = []
    buffer = ""
    try:
        model = await asyncio.to_thread(ctx.models.answer)
        async for chunk in model.astream([HumanMessage(prompt)]):
            buffer += chunk.text if isinstance(chunk.text, str) else str(chunk.content)
            if "NOT_IN_SOURCES" in buffer:
                break
            *done, buffer = SENTENCE_END.split(buffer)
            for sentence in (s.strip() for s in done if s.strip()):
                if not sentence_supported(sentence, texts):
                    return _fallback(runtime, question, sources, emitted, f"unsupported: {sentence[:80]}")
                emitted.append(sentence)
                emit_token(runtime, (" " if len(emitted) > 1 else "") + sentence)
        tail = buffer.strip()
        if tail and "NOT_IN_SOURCES" not in tail:
            if not sentence_supported(tail, texts):
                return _fallback(runtime, question, sources, emitted, f"unsupported: {tail[:80]}")
            emitted.append(tail)
            emit_token(runtime, (" " if len(emitted) > 1 else "") + tail)
    except ModelUnavailable as exc:
        return _fallback(runtime, question, sources, emitted, f"model unavailable: {exc}")
    if not emitted:
        return _fallback(runtime, question, sources, emitted, "model gave no usable answer")
    return " ".join(emitted), "generated"


def _fallback(runtime, question, sources, emitted: list[str], why: str) -> tuple[str, str]:
    log.info("knowledge answer falls back to extractive (%s)", why)
    quote = extractive_answer(question, sources)
    text = ("\n\n" if emitted else "") + quote
    emit_token(runtime, text)
    return (" ".join(emitted) + text).strip(), "extractive"
