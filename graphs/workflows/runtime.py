"""Building the workflow engine for an app, a CLI command or a test: definitions + actions + services."""

from __future__ import annotations

from pathlib import Path

from app.services.registry import Services
from graphs.workflows.actions import ActionRegistry, default_actions
from graphs.workflows.definition import DEFINITIONS_DIR, load_all
from graphs.workflows.engine import Engine


def build_engine(services: Services, *, actions: ActionRegistry | None = None,
                 directory: Path = DEFINITIONS_DIR) -> Engine:
    """Load and validate every workflow definition; a bad file raises DefinitionError naming the problem."""
    actions = actions or default_actions()
    return Engine(services, actions, load_all(directory, actions=actions.specs))
