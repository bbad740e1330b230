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


def _services(cli_env):
    from app.db.engine import Database
    from app.services.registry import Services
    from app.settings import load_settings

    settings = load_settings(data_dir=cli_env, _env_file=None)
    return Services.from_db(Database.open(settings), settings)


def test_tickets_list_show_and_staff_update(cli_env) -> None:
    mine = json.loads(runner.invoke(app, ["tickets", "list", "--as", "alice", "--json"]).output)
    assert [t["number"] for t in mine] == ["INC0000001"]
    queue = json.loads(runner.invoke(app, ["tickets", "list", "--as", "ivan", "--queue", "--json"]).output)
    assert {t["number"] for t in queue} == {"INC0000001", "INC0000002"}
    hidden = runner.invoke(app, ["tickets", "show", "INC0000002", "--as", "alice"])
    assert hidden.exit_code == 1 and "can't find that ticket" in hidden.output and "print" not in hidden.output
    done = runner.invoke(app, ["tickets", "update", "INC0000002", "--as", "ivan", "--state", "resolved", "--note",
                               "Cleared the spooler", "--resolution-code", "solved"])
    assert done.exit_code == 0 and "resolved" in done.output
    shown = json.loads(runner.invoke(app, ["tickets", "show", "INC0000002", "--as", "dave", "--json"]).output)
    assert shown["state"] == "resolved" and shown["history"][-1]["text"] == "Cleared the spooler"
    refused = runner.invoke(app, ["tickets", "update", "INC0000002", "--as", "dave", "--state", "closed"])
    assert refused.exit_code == 1


def test_approval_decided_by_staff_acts_and_delivers_out_of_band(cli_env) -> None:
    services = _services(cli_env)
    record, _ = services.approvals.request(kind="directory.reset", requested_by="bob", subject_id="alice",
                                           approver_role="it_agent", idempotency_key="k", reason="locked out")
    assert runner.invoke(app, ["approvals", "decide", record.reference, "--as", "bob"]).exit_code == 1
    assert runner.invoke(app, ["approvals", "decide", record.reference, "--as", "frank"]).exit_code == 1
    listed = json.loads(runner.invoke(app, ["approvals", "list", "--as", "ivan", "--json"]).output)
    assert [r["reference"] for r in listed] == [record.reference]
    out = runner.invoke(app, ["approvals", "decide", record.reference, "--as", "ivan"])
    assert out.exit_code == 0 and "approved; account action: done" in out.output
    delivered = json.loads(runner.invoke(app, ["outbox", "--user", "alice", "--json"]).output)
    assert delivered[0]["kind"] == "temporary_password" and delivered[0]["address"] == "+44 7700 900002"
    assert not json.loads(runner.invoke(app, ["outbox", "--user", "bob", "--json"]).output)
    assert services.directory.account("alice").must_change_password
    # Deciding again changes nothing and sends nothing.
    runner.invoke(app, ["approvals", "decide", record.reference, "--as", "ivan"])
    assert len(json.loads(runner.invoke(app, ["outbox", "--user", "alice", "--json"]).output)) == 1
