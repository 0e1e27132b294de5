"""What the container exports (kubernetes, compose) share: the image's layout,
probe targets, the environment per process type, and YAML that other readers
(Go's, in Kubernetes) take byte for byte. PyYAML is imported here only.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from supervise.config.model import Probe
from supervise.config.targets import Endpoint
from supervise.errors import UsageError
from supervise.export import ExportOptions
from supervise.plan import Instance, Plan

IMAGE_ROOT = "/app"
"""Where the image holds the project (Heroku's convention: `WORKDIR /app`, `COPY . .`)."""


def endpoint(probe: Probe) -> Endpoint:
    """Where an http/tcp probe connects: parsed by the plan, which refuses a bad target."""
    assert probe.endpoint is not None, f"unresolved {probe.kind.value} probe {probe.target!r}"
    return probe.endpoint


PRODUCTION_INTERVAL = 10.0
"""The engines' usual probe period (Kubernetes' periodSeconds default; a common compose interval)."""


def production_interval(probe: Probe) -> float:
    """The probe's interval, unless it was tuned for development (under 1 s): then 10 s.

    Probing every 250 ms is right while you wait for `up`; in production it is
    load on every replica for nothing.
    """
    return probe.interval if probe.interval >= 1 else PRODUCTION_INTERVAL


def require_image(options: ExportOptions, format_name: str) -> str:
    """The `--image` every container runs; exporting without one is a usage error."""
    if not options.image:
        raise UsageError(f"--format {format_name} needs --image IMAGE (the container image to run)")
    return options.image


def check_secret_keys(plan: Plan, keys: set[str]) -> None:
    """A `--secret-env` key no process has is most likely a typo: say so."""
    known = {key for instance in plan.instances for key in instance.env}
    missing = sorted(keys - known)
    if missing:
        raise UsageError(
            f"--secret-env: {', '.join(missing)} is not in the environment of any process "
            "(env files, env, PORT, PS)"
        )


def container_env(instance: Instance) -> dict[str, str]:
    """What every replica of the type gets: instance 1's env, with `PS` the process type."""
    env = dict(instance.env)
    env["PS"] = instance.process
    return env


def container_workdir(cwd: Path, root: Path) -> str:
    """The process's directory inside the image: its place under the project root, at IMAGE_ROOT."""
    relative = os.path.relpath(cwd, root).replace(os.sep, "/")
    return posixpath.normpath(posixpath.join(IMAGE_ROOT, relative))


# -- YAML: PyYAML's safe dumper, with quoting other YAML readers need ---------------------------


class YamlDumper(yaml.SafeDumper):
    """SafeDumper that double-quotes any string another reader might not take as a string.

    Kubernetes reads YAML with Go (`y`, `n` are booleans there, `0o12` a number),
    and a double-quoted one-line scalar keeps newlines, quotes and control
    characters byte for byte.
    """


GO_YAML_WORDS = frozenset({"", "~", "null", "y", "n", "yes", "no", "on", "off", "true", "false"})


def needs_quotes(text: str) -> bool:
    """Whether a plain scalar could be read as something else, or span lines."""
    return (
        text.lower() in GO_YAML_WORDS
        or text[0] in "0123456789+-."
        or not text.isprintable()
        or text != text.strip()
    )


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = '"' if needs_quotes(text) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


YamlDumper.add_representer(str, _represent_str)


def dump_yaml(data: Any, explicit_start: bool = False) -> str:
    """YAML text: keys in our order, non-ASCII kept, no line wrapping."""
    return yaml.dump(
        data,
        Dumper=YamlDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        explicit_start=explicit_start,
        width=math.inf,
    )


def comment_lines(notes: Sequence[str], indent: str = "") -> str:
    """Notes as `# ...` lines; a note never spans lines."""
    return "".join(f"{indent}# {' '.join(note.splitlines())}\n" for note in notes)


def show(value: object) -> str:
    """A user's value in a comment: quoted, escapes for newlines, one line."""
    return json.dumps(value, ensure_ascii=False)
