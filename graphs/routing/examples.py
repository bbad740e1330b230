"""Labelled example utterances per route (``examples.yaml``), editable by a company without code."""

from __future__ import annotations

from pathlib import Path

import yaml

from graphs.routing.routes import ROUTES
from graphs.routing.triggers import RoutingConfigError

EXAMPLES_FILE = Path(__file__).resolve().parent / "examples.yaml"
MIN_EXAMPLES = 5


def load_examples(path: Path = EXAMPLES_FILE) -> tuple[list[str], list[str], dict[str, str]]:
    """(texts, labels, descriptions). Raises RoutingConfigError naming the file and route on problems."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RoutingConfigError(f"{path}: cannot read examples ({exc})") from None
    routes = data.get("routes")
    if not isinstance(routes, dict) or not routes:
        raise RoutingConfigError(f"{path}: expected a top-level 'routes:' mapping")
    texts: list[str] = []
    labels: list[str] = []
    descriptions: dict[str, str] = {}
    for route, entry in routes.items():
        if route not in ROUTES:
            raise RoutingConfigError(f"{path}: unknown route {route!r}; valid: {', '.join(ROUTES)}")
        examples = (entry or {}).get("examples") or []
        examples = [str(e).strip() for e in examples if str(e).strip()]
        if len(examples) < MIN_EXAMPLES:
            raise RoutingConfigError(f"{path}: route {route!r} has {len(examples)} examples; at least {MIN_EXAMPLES}")
        descriptions[route] = str((entry or {}).get("description", "")).strip()
        texts.extend(examples)
        labels.extend([route] * len(examples))
    return texts, labels, descriptions
