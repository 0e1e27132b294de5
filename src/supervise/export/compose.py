"""Plan -> one Docker Compose file, `docker-compose.yml`.

One service per process type, running the same image and command as the
Kubernetes export: `entrypoint: [/bin/sh, -c]` with the process's command as
`command`, so an image's own ENTRYPOINT does not get in the way and
`docker compose run web bash` still works. Replicas share one environment:
`PS` is the process type, `PORT` instance 1's (each container has its own
network). Compose interpolates `$` everywhere in the file, so every `$` the
project wrote becomes `$$`; `--image` is left as typed, `${TAG}` and all.
What Compose cannot express is written as comments above the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supervise.config.model import Autorestart, Probe, ProbeKind, ProcessSpec
from supervise.export import ExportOptions
from supervise.export.container import (
    IMAGE_ROOT,
    check_secret_keys,
    comment_lines,
    container_env,
    container_workdir,
    dump_yaml,
    endpoint,
    production_interval,
    require_image,
    show,
)
from supervise.plan import Instance, Plan

FILE_NAME = "docker-compose.yml"

HTTP_CHECK = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))"
"""An http probe inside the container: exit 0 on a 2xx/3xx answer (urlopen raises otherwise)."""
TCP_CHECK = (
    "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), float(sys.argv[3]))"
)

RESTART = {Autorestart.ALWAYS: "always", Autorestart.UNEXPECTED: "on-failure", Autorestart.NEVER: "no"}

Service = dict[str, Any]


def render(plan: Plan, options: ExportOptions) -> dict[str, str]:
    """The compose file for the plan, ready for `docker compose up`."""
    image = require_image(options, "compose")
    check_secret_keys(plan, set(options.secret_env))
    services: dict[str, Service] = {}
    notes: dict[str, list[str]] = {}
    for spec in plan.specs:
        services[spec.name], notes[spec.name] = service(plan, plan.instances_of(spec.name), image, options)
    text = dump_yaml({"services": services})
    return {FILE_NAME: header(plan, options) + with_service_notes(text, notes)}


def service(
    plan: Plan, instances: tuple[Instance, ...], image: str, options: ExportOptions
) -> tuple[Service, list[str]]:
    """One process type as a compose service, and what it could not express."""
    first = instances[0]
    spec = first.spec
    env = container_env(first)
    body: Service = {
        "entrypoint": ["/bin/sh", "-c"],
        "command": [spec.shell_line],
        "working_dir": container_workdir(first.cwd, plan.project.root),
        "environment": {key: value for key, value in env.items() if key not in options.secret_env},
        "deploy": {"replicas": len(instances)},
    }
    notes = untranslated(spec)
    if first.port is not None:
        body["expose"] = [str(first.port)]
    if first.ready is not None:
        check, probe_notes = healthcheck(spec, first.ready)
        notes += probe_notes
        if check is not None:
            body["healthcheck"] = check
    depends_on, dependency_notes = dependencies(plan, spec)
    notes += dependency_notes
    if depends_on:
        body["depends_on"] = depends_on
    body["stop_signal"] = f"SIG{spec.stopsignal}"
    body["stop_grace_period"] = duration(spec.stop_timeout)
    body["restart"] = RESTART[spec.restart.autorestart]
    notes += restart_notes(spec)
    if not spec.autostart:
        body["profiles"] = [spec.name]
        notes.append(
            f"autostart = false: only started when named (docker compose up {spec.name}) "
            f"or with --profile {spec.name}"
        )
    if options.user is not None:
        body["user"] = options.user
    body = escape_interpolation(body)
    # Added after escaping: these are meant for Compose to interpolate.
    body = {"image": image, **body}
    for key in options.secret_env:
        if key in env:
            body["environment"][key] = f"${{{key}:?set {key} in the environment or in .env}}"
    return body, notes


def healthcheck(spec: ProcessSpec, probe: Probe) -> tuple[Service | None, list[str]]:
    """http/tcp run python3 inside the container; cmd runs in its shell; log has no equivalent."""
    timing = {"interval": duration(production_interval(probe)), "timeout": duration(probe.timeout)}
    timeout = f"{probe.timeout:g}"
    if probe.kind is ProbeKind.LOG:
        return None, [f"ready log {show(probe.target)}: no equivalent (no healthcheck)"]
    if probe.kind is ProbeKind.CMD:
        return {"test": ["CMD-SHELL", probe.target], **timing}, []
    if probe.kind is ProbeKind.HTTP:
        test = ["CMD", "python3", "-c", HTTP_CHECK, probe.target, timeout]
    else:
        target = endpoint(probe)
        test = ["CMD", "python3", "-c", TCP_CHECK, target.host, str(target.port), timeout]
    return {"test": test, **timing}, []


def dependencies(plan: Plan, spec: ProcessSpec) -> tuple[dict[str, Service], list[str]]:
    """`depends_on` conditions: a task must complete successfully, a healthcheck must pass."""
    exported = {s.name: s for s in plan.specs}
    depends_on: dict[str, Service] = {}
    notes = []
    for name in spec.depends_on:
        dependency = exported.get(name)
        if dependency is None:
            notes.append(f"depends_on {show(name)}: left out, it has no instances in this formation")
            continue
        healthy = dependency.ready is not None and dependency.ready.kind is not ProbeKind.LOG
        if dependency.is_task:
            condition = "service_completed_successfully"
        else:
            condition = "service_healthy" if healthy else "service_started"
        depends_on[name] = {"condition": condition}
    return depends_on, notes


def untranslated(spec: ProcessSpec) -> list[str]:
    """Notes for what Compose has no equivalent of."""
    if spec.watch:
        return [f"watch {show(list(spec.watch))}: no equivalent in production; build a new image instead"]
    return []


def restart_notes(spec: ProcessSpec) -> list[str]:
    """How the restart policy maps, where it does not map exactly."""
    policy = spec.restart
    if policy.autorestart is Autorestart.NEVER:
        return ['autorestart = false: restart "no"; a failed start is not retried (startretries)']
    notes = []
    if policy.exitcodes != (0,):
        codes = list(policy.exitcodes)
        notes.append(f"exitcodes {codes}: no equivalent; Docker counts only exit code 0 as expected")
    notes.append(
        "startsecs, startretries and backoff have no equivalent: Docker restarts with its own delay "
        "(doubling from 100 ms), without giving up"
    )
    return notes


def header(plan: Plan, options: ExportOptions) -> str:
    """File comments: where it came from, what the image needs."""
    lines = [
        f"Docker Compose file for {options.app}, written by `supervise export --format compose` "
        f"from {plan.project.source}.",
        f"The image must hold the project at {IMAGE_ROOT} (WORKDIR {IMAGE_ROOT}; COPY . .).",
    ]
    kinds = {spec.ready.kind for spec in plan.specs if spec.ready is not None}
    if kinds & {ProbeKind.HTTP, ProbeKind.TCP}:
        lines.append("The http and tcp healthchecks run python3 inside the container: the image needs it.")
    if options.log_dir is not None:
        lines.append("--log-dir: no equivalent; containers log to stdout (docker compose logs).")
    return comment_lines(lines)


def with_service_notes(text: str, notes: Mapping[str, list[str]]) -> str:
    """Put each service's notes as comments just above its key.

    Service keys are the only lines indented by exactly two spaces: `services`
    is the only top-level key, and no scalar spans lines (see dump_yaml).
    """
    pending = iter(notes.values())  # in the order of the services
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith("  ") and not line.startswith("   "):
            out.append(comment_lines(next(pending, []), indent="  "))
        out.append(line)
    return "".join(out)


def escape_interpolation(value: Any) -> Any:
    """Every `$` in the values becomes `$$`, so Compose hands it on as written."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [escape_interpolation(item) for item in value]
    if isinstance(value, dict):
        return {key: escape_interpolation(item) for key, item in value.items()}
    return value


def duration(seconds: float) -> str:
    """Compose's duration: `10s`, or `250ms` for fractions."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"
