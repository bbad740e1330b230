"""Every conversation script under tests/conversations, through the real stack (router, retrieval, model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.conversation import ConversationService
from app.convtests import run_script, script_paths
from app.settings import load_settings

SCRIPTS = script_paths([Path(__file__).resolve().parent.parent / "conversations"])
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
async def test_script(path: Path, kb_data_dir, _template_db, tmp_path) -> None:
    # Each script gets its own copy of the seeded database (tickets, accounts, codes, lockouts) so scripts
    # cannot affect each other; the knowledge base (Chroma) is shared.
    shutil.copyfile(_template_db, tmp_path / "concierge.db")
    url = f"sqlite:///{tmp_path / 'concierge.db'}"
    settings = load_settings(data_dir=kb_data_dir, database_url=url, _env_file=None)
    async with ConversationService.open(settings) as svc:
        result = await run_script(svc, path)
    problems = [f"step {s.index} ({s.message!r}): {f}" for s in result.steps for f in s.failures]
    assert result.passed, "\n".join(problems)


def test_scripts_exist_for_every_route() -> None:
    import yaml

    routes = set()
    for path in SCRIPTS:
        for step in yaml.safe_load(path.read_text())["steps"]:
            if "route" in (step.get("expect") or {}):
                routes.add(step["expect"]["route"])
    from graphs.routing.routes import ROUTES

    assert routes == set(ROUTES)
