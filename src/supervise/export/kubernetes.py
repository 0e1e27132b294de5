"""Plan -> Kubernetes manifests: one multi-document file, `APP.yaml`.

Per process type, in definition order: a ConfigMap with its environment, a
Secret for the `--secret-env` keys, a Deployment (a Job when `autorestart =
false`) and a Service when it has a PORT. Replicas share one environment, so
`PS` is the process type (`web`), and `PORT` is instance 1's: every pod has
its own network, so the replicas can all listen on it.

What Kubernetes cannot express (log probes, watch, other stop signals,
start ordering, startsecs/backoff) is written as comments above the manifest.
The YAML helpers at the bottom are shared with compose.py: both run the same
image, laid out the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from supervise.config.model import Autorestart, Probe, ProbeKind, ProcessSpec
from supervise.errors import UsageError
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
from supervise.plan import Instance, Plan, dependency_order

DEFAULT_RESTART_NOTE = (
    "startsecs, startretries and backoff have no equivalent: Kubernetes restarts a crashed "
    "container with its own backoff (10 s doubling to 5 min), without giving up"
)

Manifest = dict[str, Any]


def render(plan: Plan, options: ExportOptions) -> dict[str, str]:
    """Every manifest of the plan in one file, `APP.yaml`, ready for `kubectl apply -f`."""
    image = require_image(options, "kubernetes")
    app = kubernetes_app_name(options.app)
    names = component_names(app, [spec.name for spec in plan.specs])
    check_secret_keys(plan, set(options.secret_env))
    parts = [
        comment_lines(
            [
                f"Kubernetes manifests for {app}, written by `supervise export --format kubernetes` "
                f"from {plan.project.source}.",
                f"The image must hold the project at {IMAGE_ROOT} (WORKDIR {IMAGE_ROOT}; COPY . .). "
                f"Apply with: kubectl apply -f {app}.yaml",
            ]
        )
    ]
    tasks = {spec.name for spec in plan.specs if spec.is_task}
    # Dependencies first: `kubectl apply -f` creates a release Job before the Deployments.
    for name in dependency_order(plan.specs):
        instances = plan.instances_of(name)
        for manifest, notes in process_manifests(
            app, names[name], instances, plan.project.root, image, options, tasks
        ):
            parts.append(document(manifest, notes))
    return {f"{app}.yaml": "".join(parts)}


def process_manifests(
    app: str,
    component: str,
    instances: Sequence[Instance],
    root: Path,
    image: str,
    options: ExportOptions,
    tasks: Collection[str] = (),
) -> list[tuple[Manifest, list[str]]]:
    """ConfigMap, Secret, Deployment or Job, and Service of one process type, with notes."""
    first = instances[0]
    spec = first.spec
    name = f"{app}-{component}"
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/component": component}
    env = container_env(first)
    check_env_keys(spec, env)
    secret = {key: value for key, value in env.items() if key in options.secret_env}
    config = {key: value for key, value in env.items() if key not in secret}
    out: list[tuple[Manifest, list[str]]] = [(_config_map(f"{name}-env", labels, config), [])]
    env_from: list[Manifest] = [{"configMapRef": {"name": f"{name}-env"}}]
    if secret:
        out.append((_secret(f"{name}-secret", labels, secret), [SECRET_NOTE]))
        env_from.append({"secretRef": {"name": f"{name}-secret"}})
    container: Manifest = {
        "name": component,
        "image": image,
        "command": ["/bin/sh", "-c", escape_expansion(spec.shell_line)],
        "workingDir": container_workdir(first.cwd, root),
        "envFrom": env_from,
    }
    notes = untranslated(spec, tasks)
    if first.port is not None:
        container["ports"] = [{"containerPort": first.port}]
    if first.ready is not None:
        probe, probe_notes = readiness_probe(spec, first.ready)
        notes += probe_notes
        if probe is not None:
            container["readinessProbe"] = probe
    notes += _user(container, options)
    pod: Manifest = {
        "terminationGracePeriodSeconds": math.ceil(spec.stop_timeout),
        "containers": [container],
    }
    workload = _job if spec.restart.autorestart is Autorestart.NEVER else _deployment
    manifest, restart_notes = workload(name, labels, pod, spec, len(instances))
    out.append((manifest, notes + restart_notes))
    if first.port is not None:
        out.append((_service(name, labels, first.port), []))
    return out


SECRET_NOTE = (
    "The values of the --secret-env keys, in clear text: keep this out of version control, "
    "or create the Secret another way (kubectl create secret, a sealed secret)."
)


def _config_map(name: str, labels: Mapping[str, str], data: Mapping[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": dict(labels)},
        "data": dict(data),
    }


def _secret(name: str, labels: Mapping[str, str], data: Mapping[str, str]) -> Manifest:
    # stringData takes the values as they are: no base64 step to get wrong.
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": dict(labels)},
        "type": "Opaque",
        "stringData": dict(data),
    }


def _deployment(
    name: str, labels: Mapping[str, str], pod: Manifest, spec: ProcessSpec, replicas: int
) -> tuple[Manifest, list[str]]:
    notes = []
    if not spec.autostart:
        notes.append(
            f"autostart = false: 0 replicas; start it with "
            f"kubectl scale deployment/{name} --replicas={replicas}"
        )
    if spec.restart.autorestart is Autorestart.UNEXPECTED:
        notes.append(
            "autorestart = unexpected: a Deployment restarts its container after every exit, expected or not"
        )
    elif spec.restart.exitcodes != (0,):
        notes.append(f"exitcodes {list(spec.restart.exitcodes)}: no equivalent in a Deployment")
    notes.append(DEFAULT_RESTART_NOTE)
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": replicas if spec.autostart else 0,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        },
    }
    return manifest, notes


def _job(
    name: str, labels: Mapping[str, str], pod: Manifest, spec: ProcessSpec, replicas: int
) -> tuple[Manifest, list[str]]:
    notes = []
    job_spec: Manifest = {
        "completions": replicas,
        "parallelism": replicas,
        "backoffLimit": spec.restart.startretries,
        "template": {"metadata": {"labels": dict(labels)}, "spec": {"restartPolicy": "Never", **pod}},
    }
    if not spec.autostart:
        job_spec["suspend"] = True
        notes.append(
            f"autostart = false: suspended; start it with "
            f'kubectl patch job/{name} -p \'{{"spec":{{"suspend":false}}}}\''
        )
    notes.append(
        "autorestart = false: a Job; it retries a pod that exits non-zero up to backoffLimit "
        "(startretries) times; startsecs and backoff have no equivalent"
    )
    if spec.restart.exitcodes != (0,):
        notes.append(f"exitcodes {list(spec.restart.exitcodes)}: a Job counts only exit code 0 as success")
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": job_spec,
    }
    return manifest, notes


def _service(name: str, labels: Mapping[str, str], port: int) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {"selector": dict(labels), "ports": [{"port": port, "targetPort": port}]},
    }


def _user(container: Manifest, options: ExportOptions) -> list[str]:
    """`--user 1000` or `1000:1000` -> securityContext; a user name has no equivalent."""
    if options.user is None:
        return []
    match = re.fullmatch(r"(\d+)(?::(\d+))?", options.user)
    if match is None:
        return [f"--user {show(options.user)}: Kubernetes needs a numeric UID (or set USER in the image)"]
    context = {"runAsUser": int(match.group(1))}
    if match.group(2) is not None:
        context["runAsGroup"] = int(match.group(2))
    container["securityContext"] = context
    return []


def untranslated(spec: ProcessSpec, tasks: Collection[str] = ()) -> list[str]:
    """Notes for what Kubernetes has no equivalent of (probes and restarts are noted elsewhere)."""
    notes = []
    if spec.watch:
        notes.append(
            f"watch {show(list(spec.watch))}: no equivalent in production; roll out a new image instead"
        )
    if spec.stopsignal != "TERM":
        notes.append(
            f"stopsignal {spec.stopsignal}: no equivalent; Kubernetes stops a container with the image's "
            f"STOPSIGNAL (SIGTERM unless the Dockerfile says STOPSIGNAL SIG{spec.stopsignal})"
        )
    for task in (dep for dep in spec.depends_on if dep in tasks):
        notes.append(
            f"depends_on {show(task)}: a one-shot Job, which Kubernetes does not wait for; run it first "
            f"(kubectl wait --for=condition=complete job -l app.kubernetes.io/component={dns_label(task)}), "
            "then apply the rest"
        )
    services = [dep for dep in spec.depends_on if dep not in tasks]
    if services:
        notes.append(
            f"depends_on {show(services)}: Kubernetes starts everything at once; "
            f"{spec.name} must retry until they are ready"
        )
    return notes


def readiness_probe(spec: ProcessSpec, probe: Probe) -> tuple[Manifest | None, list[str]]:
    """http -> httpGet, tcp -> tcpSocket, cmd -> exec; log has no equivalent (a note)."""
    timing = {
        "periodSeconds": math.ceil(production_interval(probe)),
        "timeoutSeconds": max(1, math.ceil(probe.timeout)),
    }
    if probe.kind is ProbeKind.LOG:
        return None, [f"ready log {show(probe.target)}: no equivalent (no readinessProbe)"]
    if probe.kind is ProbeKind.CMD:
        command = ["/bin/sh", "-c", escape_expansion(probe.target)]
        return {"exec": {"command": command}, **timing}, []
    notes = []
    if probe.kind is ProbeKind.HTTP:
        target = endpoint(probe)
        action: Manifest = {"path": target.path, "port": target.port}
        if target.scheme == "https":
            action["scheme"] = "HTTPS"
        key = "httpGet"
    else:
        target = endpoint(probe)
        action = {"port": target.port}
        key = "tcpSocket"
    if is_loopback(target.host):
        notes.append(
            f"ready {probe.kind.value} {show(probe.target)}: the readinessProbe connects to the pod's IP, "
            "so the process must listen on 0.0.0.0, not 127.0.0.1"
        )
    else:
        action["host"] = target.host
    return {key: action, **timing}, notes


def is_loopback(host: str) -> bool:
    """Whether a probe host means "this machine" (inside a container: this container)."""
    return host in ("localhost", "::1", "0.0.0.0", "::") or host.startswith("127.")


def escape_expansion(text: str) -> str:
    """Escape Kubernetes' `$(VAR)` expansion in command and exec: `$` -> `$$` keeps every byte."""
    return text.replace("$", "$$")


def kubernetes_app_name(app: str) -> str:
    """The app as a DNS label: lowercase letters, digits and `-`, starting with a letter."""
    name = dns_label(app)
    if not re.match(r"[a-z]", name):
        raise UsageError(
            f'--app "{app}": a Kubernetes name needs a letter first, then letters, digits or "-"; '
            "give --app NAME"
        )
    return name


def component_names(app: str, processes: Sequence[str]) -> dict[str, str]:
    """Process name -> DNS label; names that collide or make too long a Service name are errors."""
    names: dict[str, str] = {}
    for process in processes:
        label = dns_label(process)
        if not label:
            raise UsageError(f'process "{process}": cannot make a Kubernetes name from it; rename it')
        for other, taken in names.items():
            if taken == label:
                raise UsageError(
                    f'processes "{other}" and "{process}" both become "{label}" in Kubernetes; rename one'
                )
        if len(f"{app}-{label}") > 63:
            raise UsageError(
                f'"{app}-{label}" is longer than the 63 characters of a Kubernetes Service name; '
                "give a shorter --app NAME"
            )
        names[process] = label
    return names


def dns_label(text: str) -> str:
    """Lowercase, anything but letters and digits becomes `-`, at most 63 characters."""
    label = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return label[:63].rstrip("-")


def check_env_keys(spec: ProcessSpec, env: Mapping[str, str]) -> None:
    """ConfigMap and Secret keys allow fewer characters than an environment does."""
    for key in env:
        if not CONFIG_KEY.fullmatch(key):
            raise UsageError(
                f'process "{spec.name}": env key {show(key)} cannot be a Kubernetes ConfigMap key '
                '(letters, digits, "-", "_" and "." only)'
            )


CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def document(manifest: Manifest, notes: Sequence[str]) -> str:
    """One `---` document with its notes as comments above it."""
    start, _, body = dump_yaml(manifest, explicit_start=True).partition("\n")
    return f"{start}\n{comment_lines(notes)}{body}"
