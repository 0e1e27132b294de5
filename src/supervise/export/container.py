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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from supervise.config.model import ProcessSpec
from supervise.errors import UsageError
from supervise.export import ExportOptions
from supervise.plan import Instance, Plan

IMAGE_ROOT = "/app"
"""Where the image holds the project (Heroku's convention: `WORKDIR /app`, `COPY . .`)."""


@dataclass(frozen=True)
class ProbeTarget:
    """Where an http or tcp probe connects."""

    host: str
    port: int
    scheme: str = "tcp"
    path: str = "/"


def parse_http_target(spec: ProcessSpec, url: str) -> ProbeTarget:
    """`http://127.0.0.1:5000/health?x=1` -> host, port (80/443 by default), path with query."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise _probe_error(spec, "http", url, str(error)) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _probe_error(spec, "http", url, "expected http://HOST[:PORT]/PATH")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return ProbeTarget(host=parts.hostname, port=port, scheme=parts.scheme, path=path)


def parse_tcp_target(spec: ProcessSpec, target: str) -> ProbeTarget:
    """`host:port`, `[::1]:port` or `port`, read exactly as `up` reads it."""
    from supervise.runtime.probes import tcp_address

    try:
        host, port = tcp_address(target)
    except ValueError:
        raise _probe_error(spec, "tcp", target, "expected HOST:PORT or PORT") from None
    return ProbeTarget(host=host, port=port)


def _probe_error(spec: ProcessSpec, kind: str, target: str, reason: str) -> UsageError:
    return UsageError(f'process "{spec.name}": ready {kind} {show(target)}: {reason}')


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
