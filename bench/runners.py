"""The runners under test (honcho, supervise) and how to start one on a Procfile.

Each runs from a virtualenv of its own, made on first use: honcho from PyPI in
bench/.venv-honcho (so it never touches the project's environment), and this
working tree's supervise in bench/.venv-supervise, installed as a user gets it
(not editable: an editable install puts an import hook in front of every
import, which start-up would pay). A changed source tree reinstalls it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HONCHO_VENV = BENCH / ".venv-honcho"
SUPERVISE_VENV = BENCH / ".venv-supervise"


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


# Not in a user's shell, and each changes what is measured: no bytecode cache means
# compiling every module at each start; unbuffered output means a write per print.
_DROPPED = ("FORCE_COLOR", "PORT", "PS", "PYTHONSTARTUP", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")


def bench_env() -> dict[str, str]:
    """The environment every runner and process gets: the caller's, as a user's shell would have it."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
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


def _venv(path: Path, requirement: list[str], stamp: str) -> Path:
    """A virtualenv at `path` with `requirement` pip-installed; redone when `stamp` changes."""
    stamp_file = path / "bench-stamp"
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return path
    print(f"installing {' '.join(requirement)} into {path} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirement]
    subprocess.run(pip, check=True)
    stamp_file.write_text(stamp)
    return path


def honcho() -> Runner:
    """honcho from PyPI, in its own virtualenv."""
    exe = _venv(HONCHO_VENV, ["honcho"], "honcho") / "bin" / "honcho"
    return Runner(
        "honcho", (str(exe),), ("start", "-f", "{procfile}", "--no-colour"), _version([str(exe), "--version"])
    )


def supervise(own_venv: bool = True) -> Runner:
    """This working tree's supervise: installed (not editable) in its own virtualenv, as honcho is.

    A virtualenv of its own keeps both runners' interpreter start-up alike (the
    project's environment may carry .pth files that import things at start-up);
    `own_venv=False` takes the console script of the current environment instead.
    """
    if own_venv:
        pyproject = REPO / "pyproject.toml"
        stamp = hashlib.sha256(pyproject.read_bytes()).hexdigest()  # dependencies changed: a new venv
        venv = _venv(SUPERVISE_VENV, [f"{REPO}[web]"], stamp)  # [web]: the page scenario
        _reinstall_if_changed(venv)
        command: tuple[str, ...] = (str(venv / "bin" / "supervise"),)
    else:
        script = shutil.which("supervise")
        command = (script,) if script else (sys.executable, "-m", "supervise")
    version = _version([*command, "--version"])
    probe = subprocess.run([*command, "up", "--help"], capture_output=True, text=True, env=bench_env())
    if probe.returncode != 0:
        why = (probe.stderr.strip() or probe.stdout.strip()).splitlines()[-1:] or ["`up` fails"]
        return Runner("supervise", command, (), version, available=False, why_not=why[0])
    return Runner("supervise", command, ("up", "-f", "{procfile}", "--no-color"), version)


def _reinstall_if_changed(venv: Path) -> None:
    """Install this tree's supervise again (no dependencies) when a file under src/ changed."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "src").rglob("*")):
        if path.is_file() and not any(p == "__pycache__" or p.endswith(".egg-info") for p in path.parts):
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    stamp_file = venv / "bench-source-stamp"
    if stamp_file.exists() and stamp_file.read_text() == digest.hexdigest():
        return
    print(f"installing this tree's supervise into {venv} ...", file=sys.stderr, flush=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall"]
    # pip compiles the bytecode, as it did for honcho: ready before the first start.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([*pip, str(REPO)], check=True, env=env)
    stamp_file.write_text(digest.hexdigest())


def python_floor() -> list[str]:
    """`python -c pass` with the runners' interpreter and a bare virtualenv's start-up: the floor."""
    python = SUPERVISE_VENV / "bin" / "python"
    return [str(python) if python.exists() else sys.executable, "-c", "pass"]
