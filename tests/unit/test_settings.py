from pathlib import Path

import pytest

from app.settings import SettingsError, load_settings, validate_model_spec


def test_defaults_need_nothing(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path, _env_file=None)
    assert s.model == "embedded" and s.small_model == "embedded"
    assert s.sqlalchemy_url.startswith("sqlite:///") and s.sqlalchemy_url.endswith("concierge.db")
    assert not s.is_postgres


def test_env_prefix_and_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("CONCIERGE_PORT=8123\nCONCIERGE_MODEL=fake\n")
    monkeypatch.setenv("CONCIERGE_SMALL_MODEL", "ollama:qwen2.5:0.5b")
    s = load_settings(_env_file=env)
    assert s.port == 8123 and s.model == "fake" and s.small_model == "ollama:qwen2.5:0.5b"


def test_unknown_model_lists_valid_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONCIERGE_MODEL", "gpt-9")
    with pytest.raises(SettingsError) as exc:
        load_settings(_env_file=None)
    text = str(exc.value)
    assert "CONCIERGE_MODEL" in text and "gpt-9" in text
    for valid in ("embedded", "ollama:<model>", "fake"):
        assert valid in text


def test_unknown_embedded_name_lists_builtins() -> None:
    with pytest.raises(ValueError, match=r"qwen2\.5-0\.5b, smollm2-135m"):
        validate_model_spec("embedded:llama-70b")
    assert validate_model_spec("embedded:/models/x.gguf") == "embedded:/models/x.gguf"
    assert validate_model_spec(" ollama:qwen2.5:1.5b ") == "ollama:qwen2.5:1.5b"


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("database_url", "mysql://x", "unsupported database URL"),
        ("port", "99999", "CONCIERGE_PORT"),
        ("ollama_base_url", "localhost:11434", "not an http(s) URL"),
        ("temperature", "hot", "CONCIERGE_TEMPERATURE"),
        ("embedded_model", "/nonexistent/model.gguf", "not a file"),
        ("log_level", "LOUD", "CONCIERGE_LOG_LEVEL"),
    ],
)
def test_bad_values_give_one_clear_line(monkeypatch, field, value, fragment) -> None:
    monkeypatch.setenv(f"CONCIERGE_{field.upper()}", value)
    with pytest.raises(SettingsError) as exc:
        load_settings(_env_file=None)
    assert fragment in str(exc.value)
    assert "Traceback" not in str(exc.value)


def test_postgres_url_uses_psycopg_driver(monkeypatch) -> None:
    monkeypatch.setenv("CONCIERGE_DATABASE_URL", "postgresql://u@localhost/db")
    s = load_settings(_env_file=None)
    assert s.is_postgres and s.sqlalchemy_url == "postgresql+psycopg://u@localhost/db"
