"""The runners under test (honcho, supervise) and how to start one on a Procfile.

honcho lives in its own virtualenv (bench/.venv-honcho), installed from PyPI on
first use, so it never touches the project's environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

BENCH = Path(__file__).resolve().parent
HONCHO_VENV = BENCH / ".venv-honcho"


@dataclass(frozen=True)
class Runner:
    """A Procfile runner: `up` runs a Procfile in the foreground, without colors."""

    name: str
    command: tuple[str, ...]
    up_args: tuple[str, ...]  # {procfile} is replaced by the Procfile's path
    version: str
    available: bool = True
    why_not: str = ""

    def up(self, procfile: Path) -> list[str]:
        """The argv that runs `procfile` in the foreground, without colors."""
        return [*self.command, *(arg.replace("{procfile}", str(procfile)) for arg in self.up_args)]

    def version_argv(self) -> list[str]:
        return [*self.command, "--version"]


def bench_env() -> dict[str, str]:
    """The environment every runner and process gets: the caller's, minus color and PORT overrides."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PORT", "PS", "PYTHONSTARTUP")}
    env["NO_COLOR"] = "1"
    return env


def launch(
    argv: list[str], cwd: Path, stdout: int | IO[bytes], stderr: int | IO[bytes]
) -> subprocess.Popen[bytes]:
    """Start a runner as a shell would start a foreground job: its own session and group, stdin empty."""
    return subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=bench_env(),
        start_new_session=True,
    )


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=bench_env())
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    return (
        (done.stdout.strip() or done.stderr.strip()).splitlines()[-1] if done.returncode == 0 else "unknown"
    )


def honcho(install: bool = True) -> Runner:
    """honcho from its own virtualenv, created and filled from PyPI when missing."""
    exe = HONCHO_VENV / "bin" / "honcho"
    if not exe.exists() and install:
        print(f"installing honcho into {HONCHO_VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(HONCHO_VENV)], check=True)
        pip = [str(HONCHO_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "honcho"]
        subprocess.run(pip, check=True)
    if not exe.exists():
        return Runner("honcho", (str(exe),), (), "missing", available=False, why_not="not installed")
    return Runner(
        "honcho", (str(exe),), ("start", "-f", "{procfile}", "--no-colour"), _version([str(exe), "--version"])
    )


def supervise() -> Runner:
    """The supervise of this working tree (the console script on PATH, else `python -m supervise`)."""
    script = shutil.which("supervise")
    command = (script,) if script else (sys.executable, "-m", "supervise")
    version = _version([*command, "--version"])
    probe = subprocess.run([*command, "up", "--help"], capture_output=True, text=True, env=bench_env())
    if probe.returncode != 0:
        why = (probe.stderr.strip() or probe.stdout.strip()).splitlines()[-1:] or ["`up` fails"]
        return Runner("supervise", command, (), version, available=False, why_not=why[0])
    return Runner("supervise", command, ("up", "-f", "{procfile}", "--no-color"), version)
