"""What every ``concierge`` sub-command shares: consoles, option types, settings loading, failing cleanly."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from app.settings import Settings, SettingsError, load_settings

console = Console()
err = Console(stderr=True)

UserOpt = Annotated[str, typer.Option("--user", "-u", help="Demo user id to act as (see `concierge users`).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    from app.logging_setup import configure_logging

    configure_logging(settings, console_level="ERROR")
    return settings


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]{message}[/red]")
    raise typer.Exit(code)
