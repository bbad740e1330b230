"""Start the Chainlit web UI (``app/chainlit_app.py``) as a child process with a prepared environment."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from app.settings import Settings

#: The repository root: Chainlit reads ``.chainlit/config.toml`` and ``chainlit.md`` from here.
REPO_ROOT = Path(__file__).resolve().parent.parent
APP_TARGET = REPO_ROOT / "app" / "chainlit_app.py"
SECRET_FILE = ".chainlit_secret"
#: Set in the child's environment: its ``CONCIERGE_*`` variables are complete, so ``.env`` must be ignored.
SETTINGS_EXPORTED_ENV = "CONCIERGE_SETTINGS_EXPORTED"

#: Variables the ``chainlit`` CLI reads as flags (click envvars); dropped so a stray ``CI=true`` or
#: ``WATCH=1`` in the operator's shell does not change how the server runs.
_CHAINLIT_FLAG_VARS = ("CI", "WATCH", "RUN_TARGET", "DEBUG", "NO_CACHE", "HEADLESS")
#: Settings that must not be copied into the child's environment.
_NOT_EXPORTED = {"auth_secret"}


def auth_secret(settings: Settings) -> str:
    """The JWT secret for Chainlit sessions: ``CONCIERGE_AUTH_SECRET``, else one generated once per data dir.

    The generated secret is kept in ``data_dir/.chainlit_secret`` (mode 0600) so sessions survive restarts.
    """
    if settings.auth_secret and settings.auth_secret.strip():
        return settings.auth_secret.strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            with contextlib.suppress(OSError):
                if path.stat().st_mode & 0o077:
                    path.chmod(0o600)
            return secret
        path.unlink()  # an empty file (crash while writing): make a new one
        return auth_secret(settings)
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
    return secret


def settings_env(settings: Settings) -> dict[str, str]:
    """``CONCIERGE_*`` variables that rebuild ``settings`` in the child (overrides included)."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        if name in _NOT_EXPORTED:
            continue
        value = getattr(settings, name)
        if value is None:
            continue
        if name == "data_dir":
            value = Path(value).resolve()
        if isinstance(value, (list, tuple, set, dict)):  # pydantic-settings reads complex values as JSON
            text = json.dumps(sorted(value) if isinstance(value, set) else value, default=str)
        else:
            text = str(value)
        env[f"CONCIERGE_{name.upper()}"] = text
    return env


def chainlit_command(settings: Settings, *, headless: bool = True) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that start the web server; run it with ``cwd=REPO_ROOT``."""
    env = {k: v for k, v in os.environ.items() if k not in _CHAINLIT_FLAG_VARS}
    env.update(settings_env(settings))
    env[SETTINGS_EXPORTED_ENV] = "1"
    env["CHAINLIT_AUTH_SECRET"] = auth_secret(settings)
    env["CHAINLIT_APP_ROOT"] = str(REPO_ROOT)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    # Self-hosted: nothing phones home (Chainlit 2.12 itself has no telemetry; these cover libraries).
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("ANONYMIZED_TELEMETRY", "False")
    env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    argv = [
        sys.executable,
        "-m",
        "chainlit",
        "run",
        str(APP_TARGET),
        "--host",
        settings.host,
        "--port",
        str(settings.port),
    ]
    if headless:
        argv.append("--headless")
    return argv, env


def run_web(settings: Settings, *, headless: bool = True) -> int:
    """Run the web UI until it stops; returns its exit code. SIGINT/SIGTERM are passed on to the server."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    argv, env = chainlit_command(settings, headless=headless)
    proc = subprocess.Popen(argv, env=env, cwd=REPO_ROOT)

    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[sig] = signal.signal(sig, forward)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # pragma: no cover - only if the handler could not be installed
                forward(signal.SIGINT, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
