"""Shared fixtures: settings on a temp data dir, a migrated+seeded database, PostgreSQL when available."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from app.db.engine import Database
from app.services.seed import seed
from app.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ENV = "CONCIERGE_TEST_POSTGRES_URL"


SHARED_CACHE = REPO / "data" / "test-cache"


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own CONCIERGE_* variables or .env must not leak into tests.

    Precomputed embeddings (routing examples) are shared by all tests through one cache directory.
    """
    for key in list(os.environ):
        if key.startswith("CONCIERGE_") and key != POSTGRES_ENV and not key.startswith("CONCIERGE_TEST_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CONCIERGE_CACHE_DIR", str(SHARED_CACHE))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path, model="fake", small_model="fake", _env_file=None)


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate and seed once per session; each test gets a copy (scrypt hashing and migrations are slow)."""
    data_dir = tmp_path_factory.mktemp("template-db")
    database = Database.open(
        load_settings(data_dir=data_dir, model="fake", small_model="fake", _env_file=None)
    )
    seed(database)
    database.close()
    return data_dir / "concierge.db"


@pytest.fixture
def db(settings: Settings, _template_db: Path) -> Iterator[Database]:
    shutil.copyfile(_template_db, settings.data_dir / "concierge.db")
    database = Database.open(settings)
    yield database
    database.close()


def postgres_url() -> str:
    """The test PostgreSQL URL; in CI its absence is a failure, locally a skip."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set in CI; .ci/run must set it")
        pytest.skip(f"set {POSTGRES_ENV} to run PostgreSQL tests")
    return url


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database per test (dropped afterwards)."""
    import psycopg

    base = postgres_url()
    name = f"concierge_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    yield url
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def backend_settings(request, tmp_path: Path) -> Settings:
    """Settings on a fresh database: a SQLite file, then a new PostgreSQL database (each test runs on both)."""
    url = request.getfixturevalue("pg_database_url") if request.param == "postgres" else None
    return load_settings(data_dir=tmp_path, database_url=url, model="fake", small_model="fake", _env_file=None)


@pytest.fixture(scope="session")
def kb_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the shipped knowledge base ingested (real Chroma, real embeddings), once per session.

    The embedded model's GGUF is shared through ``data/models`` so it is assembled once per checkout.
    """
    from knowledge.ingest import ingest

    data_dir = tmp_path_factory.mktemp("kb-data")
    settings = load_settings(data_dir=data_dir, _env_file=None)
    report = ingest(settings)
    assert not report.errors, report.errors
    database = Database.open(settings)
    seed(database)
    database.close()
    shared_models = REPO / "data" / "models"
    shared_models.mkdir(parents=True, exist_ok=True)
    (data_dir / "models").symlink_to(shared_models, target_is_directory=True)
    return data_dir
