"""Incremental, idempotent ingestion of articles into Chroma (a content hash per document)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.settings import Settings
from knowledge.chunking import chunk_document
from knowledge.documents import AUDIENCES, Document, DocumentError, iter_document_paths, parse_document
from knowledge.store import kb_collection

log = logging.getLogger(__name__)

DOCS_DIR = Path(__file__).resolve().parent / "docs"
BATCH = 64


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks: int = 0  # chunks written in this run
    total_chunks: int = 0  # chunks in the store afterwards
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def as_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "chunks": self.chunks,
            "total_chunks": self.total_chunks,
            "errors": [{"path": p, "reason": r} for p, r in self.errors],
        }


def chunk_metadata(doc: Document, index: int, section: str) -> dict:
    meta = {
        "doc_id": doc.id,
        "title": doc.title,
        "section": section,
        "category": doc.category,
        "owner": doc.owner,
        "last_reviewed": doc.last_reviewed,
        "retention": doc.retention,
        "path": doc.path,
        "doc_hash": doc.content_hash,
        "chunk_index": index,
    }
    # One boolean per audience: Chroma filters on scalars, and access control must be a filter, not a hope.
    meta.update({f"aud_{a}": a in doc.audience for a in AUDIENCES})
    return meta


def _stored_documents(collection) -> dict[str, dict]:
    """doc_id -> {hash, path, chunk ids} for what the store holds now."""
    got = collection.get(include=["metadatas"])
    docs: dict[str, dict] = {}
    for chunk_id, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
        entry = docs.setdefault(meta["doc_id"], {"hash": meta.get("doc_hash"), "path": meta.get("path"), "ids": []})
        entry["ids"].append(chunk_id)
    return docs


def ingest(
    settings: Settings,
    root: Path = DOCS_DIR,
    *,
    collection=None,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Bring the store in line with the files under ``root``.

    Unchanged documents are skipped, changed ones replaced, new ones added; documents that were ingested
    from under ``root`` and whose file is gone are removed. A malformed file is reported and its previous
    version (if any) is kept, so one bad edit never empties an article from the knowledge base.
    """
    collection = collection if collection is not None else kb_collection(settings)
    report = IngestReport()
    stored = _stored_documents(collection)
    root = root.resolve()
    seen: set[str] = set()
    bad_paths: set[str] = set()

    for path in iter_document_paths(root):
        if progress:
            progress(path.name)
        try:
            doc = parse_document(path)
        except (DocumentError, OSError) as exc:
            reason = exc.reason if isinstance(exc, DocumentError) else str(exc)
            report.errors.append((str(path), reason))
            bad_paths.add(str(path))
            continue
        if doc.id in seen:
            report.errors.append((str(path), f"duplicate id {doc.id!r} (already used by another file)"))
            continue
        seen.add(doc.id)
        old = stored.get(doc.id)
        if old and old["hash"] == doc.content_hash and old["path"] == doc.path:
            report.unchanged.append(doc.id)
            continue
        chunks = chunk_document(doc)
        if old:
            collection.delete(ids=old["ids"])
        for start in range(0, len(chunks), BATCH):
            batch = chunks[start : start + BATCH]
            collection.add(
                ids=[c.id for c in batch],
                documents=[c.embed_text(doc.title) for c in batch],
                metadatas=[chunk_metadata(doc, c.index, c.section) for c in batch],
            )
        report.chunks += len(chunks)
        (report.updated if old else report.added).append(doc.id)

    for doc_id, old in stored.items():
        if doc_id in seen or old["path"] in bad_paths:
            continue
        old_path = Path(old["path"] or "")
        if root.is_dir() and not old_path.is_relative_to(root):
            continue  # ingested from elsewhere: not ours to prune
        if root.is_file() and old_path != root:
            continue
        collection.delete(ids=old["ids"])
        report.removed.append(doc_id)
    report.total_chunks = collection.count()
    log.info(
        "ingest: %d added, %d updated, %d unchanged, %d removed, %d errors",
        len(report.added),
        len(report.updated),
        len(report.unchanged),
        len(report.removed),
        len(report.errors),
    )
    return report
