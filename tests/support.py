"""Helpers for tests: temp projects from a dict of files, and the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

SUPERVISE = shutil.which("supervise") or ""


def supervise_argv() -> list[str]:
    """The installed console script when there is one, else `python -m supervise`."""
    return [SUPERVISE] if SUPERVISE else [sys.executable, "-m", "supervise"]


def write_files(root: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without color or supervise variables leaking in."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "PORT", "PS")}
    env.update(extra)
    return env


def run_cli(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 20,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `supervise` with `args` and capture its output."""
    return subprocess.run(
        [*supervise_argv(), *args],
        cwd=cwd,
        env=dict(env) if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
