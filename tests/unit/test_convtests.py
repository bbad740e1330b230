from pathlib import Path

import pytest

from app.convtests import ScriptError, check_step, load_script


def test_check_step_reports_each_failure() -> None:
    out = {"reply": "Hello there", "route": "smalltalk", "state": {"active_flow": None, "parked_flows": []}}
    assert (
        check_step({"route": "smalltalk", "reply_matches": "(?i)hello", "state": {"active_flow": None}}, out, []) == []
    )
    failures = check_step(
        {"route": "incident", "reply_not_matches": "Hello", "events": ["ticket.created"], "no_events": ["x"]},
        out,
        ["x"],
    )
    assert len(failures) == 4


def test_state_lists_match_element_subsets() -> None:
    out = {"reply": "", "state": {"parked_flows": [{"flow": "leave", "slots": {}, "pending_slot": "dates"}]}}
    assert check_step({"state": {"parked_flows": [{"flow": "leave"}]}}, out, []) == []
    assert check_step({"state": {"parked_flows": []}}, out, [])


def test_malformed_scripts_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - expect: {route: incident}\n")
    with pytest.raises(ScriptError, match="step 1 needs a 'user' message"):
        load_script(bad)
    bad.write_text("name: x\nsteps:\n  - user: hi\n    expect: {rout: incident}\n")
    with pytest.raises(ScriptError, match="unknown expectations"):
        load_script(bad)
