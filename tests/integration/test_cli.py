import json
import shutil

import pytest
from typer.testing import CliRunner

from app.cli import app

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path, monkeypatch, _template_db):
    shutil.copyfile(_template_db, tmp_path / "concierge.db")
    monkeypatch.setenv("CONCIERGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONCIERGE_MODEL", "fake")
    monkeypatch.setenv("CONCIERGE_SMALL_MODEL", "fake")
    monkeypatch.chdir(tmp_path)  # no stray .env
    return tmp_path


def test_help_lists_commands() -> None:
    out = runner.invoke(app, ["--help"])
    assert out.exit_code == 0
    for command in ("ask", "chat", "run", "seed", "prepare", "users"):
        assert command in out.output


def test_ask_json(cli_env) -> None:
    out = runner.invoke(app, ["ask", "hello", "--json", "--thread", "th1"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["thread_id"] == "th1" and data["route"] == "smalltalk"
    assert "hello" in data["reply"]


def test_ask_continues_a_thread(cli_env) -> None:
    runner.invoke(app, ["ask", "hello", "--json", "--thread", "th1"])
    data = json.loads(runner.invoke(app, ["ask", "thanks", "--json", "--thread", "th1"]).output)
    assert data["state"]["turn_count"] == 2


def test_ask_unknown_user(cli_env) -> None:
    out = runner.invoke(app, ["ask", "hello", "--user", "mallory"])
    assert out.exit_code == 1 and "No user 'mallory'" in out.output


def test_bad_config_is_one_clear_message(cli_env, monkeypatch) -> None:
    monkeypatch.setenv("CONCIERGE_MODEL", "gpt-9")
    out = runner.invoke(app, ["ask", "hello"])
    assert out.exit_code == 2
    assert "CONCIERGE_MODEL" in out.output and "Traceback" not in out.output


def test_chat_session(cli_env) -> None:
    out = runner.invoke(app, ["chat", "--thread", "c1"], input="hello\n\nthanks\n")
    assert out.exit_code == 0, out.output
    assert out.output.count("You said") == 2


def test_seed_is_idempotent(cli_env) -> None:
    out = runner.invoke(app, ["seed"])
    assert out.exit_code == 0 and "0 new users" in out.output
