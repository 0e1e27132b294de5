"""Plan -> `APP.target` plus one `APP-TYPE-N.service` per instance, with systemd's quoting.

systemd reads `Environment=` and `ExecStart=` word by word: double quotes,
C escapes (`\\\\`, `\\"`, `\\n`, `\\xNN`), then `%` specifiers (a literal `%` is
`%%`); `ExecStart=` arguments also get `$VAR` expansion at start (a literal
`$` is `$$`). An `Environment=` name must be a shell identifier, and systemd
before 248 also refused control characters other than tab and newline in
values; such variables are passed by `/usr/bin/env -- KEY=VALUE` in
`ExecStart=` instead, where any byte can be written. The process runs as
`/bin/sh -c COMMAND` with the plan's environment, as under `supervise up`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from supervise.config.model import Autorestart, ProcessSpec
from supervise.errors import UsageError
from supervise.export import ExportOptions, app_problem, checked_env
from supervise.plan import Instance, Plan

"""App names that make valid unit names."""

EXEC_SAFE = re.compile(r"[A-Za-z0-9_@+=:,./-]+")
"""ExecStart= words systemd reads as themselves (no quotes, escapes, `%` or `$`)."""

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""Names systemd accepts in Environment= (env_name_is_valid)."""

C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
CLEAN_SIGNALS = "SIGHUP SIGINT SIGTERM SIGPIPE"
"""Signals systemd counts as a clean exit; supervise never expects a signal."""

ENV = "/usr/bin/env"
SH = "/bin/sh"
CD_THEN_EXEC = 'cd -- "$0" && exec "$@"'


def quote(text: str, dollar: bool) -> str:
    """`text` as one double-quoted systemd word: C escapes, `%%`, and `$$` when `dollar`."""
    out = []
    for char in text:
        if char in C_ESCAPES:
            out.append(C_ESCAPES[char])
        elif ord(char) < 0x20 or char == "\x7f":
            out.append(f"\\x{ord(char):02x}")
        elif char == "%":
            out.append("%%")
        elif char == "$" and dollar:
            out.append("$$")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def exec_word(word: str) -> str:
    """One ExecStart= argument: as is when plain, else quoted with `%%` and `$$`."""
    return word if EXEC_SAFE.fullmatch(word) else quote(word, dollar=True)


def exec_line(argv: Sequence[str]) -> str:
    """The ExecStart= value that systemd splits back into `argv`."""
    return " ".join(exec_word(word) for word in argv)


def environment_value(key: str, value: str) -> str | None:
    """The Environment= value for one variable, or None when systemd would refuse it."""
    if not ENV_NAME.fullmatch(key):
        return None
    if any((ord(char) < 0x20 and char not in "\t\n") or char == "\x7f" for char in value):
        return None
    return quote(f"{key}={value}", dollar=False)


def plain_value(text: str) -> str:
    """A value systemd takes whole (User=, WorkingDirectory=, paths): only `%` escaped."""
    return text.replace("%", "%%")


def plain_problem(text: str) -> str | None:
    """Why `text` cannot be a whole unit-file value, or None."""
    if any(ord(char) < 0x20 or char == "\x7f" for char in text):
        return "a control character"
    if text != text.strip():
        return "whitespace at an end"
    return None


def seconds(value: float) -> str:
    """A systemd time span: `10s`, `500ms`."""
    if value == int(value):
        return f"{int(value)}s"
    return f"{math.ceil(value * 1000)}ms"


def unit_name(app: str, instance: Instance) -> str:
    """`APP-web-1.service` for instance `web.1`."""
    return f"{app}-{instance.process}-{instance.number}.service"


def render(plan: Plan, options: ExportOptions) -> dict[str, str]:
    """`{APP.target: ..., APP-web-1.service: ...}` for every instance of the plan."""
    app = options.app
    problem = app_problem(app)
    if problem:
        raise UsageError(f'--app: "{app}" cannot name a systemd unit ({problem}); give --app NAME')
    if not plan.instances:
        raise UsageError("nothing to export: the formation leaves no instances")
    _check_option("--user", options.user, spaces=False)
    _check_option("--log-dir", str(options.log_dir) if options.log_dir else None, spaces=True)
    files = {f"{app}.target": _target(plan, app)}
    for instance in plan.instances:
        files[unit_name(app, instance)] = _service(plan, app, instance, options)
    return files


def _check_option(option: str, value: str | None, spaces: bool) -> None:
    if value is None:
        return
    problem = plain_problem(value)
    if problem is None and not spaces and any(char.isspace() for char in value):
        problem = "whitespace"
    if problem is not None:
        raise UsageError(f'{option}: "{value}" cannot be written into a unit file ({problem})')


def _target(plan: Plan, app: str) -> str:
    wanted = [unit_name(app, i) for i in plan.instances if i.spec.autostart]
    manual = [unit_name(app, i) for i in plan.instances if not i.spec.autostart]
    lines = [
        f"# {app}: written by `supervise export --format systemd`.",
        "# Install and start:",
        f"#     sudo cp {app}.target {app}-*.service /etc/systemd/system/",
        "#     sudo systemctl daemon-reload",
        f"#     sudo systemctl enable --now {app}.target",
        f"# Then: systemctl status '{app}-*'   journalctl -u '{app}-*' -f   systemctl restart {app}.target",
        "#",
        f"# One unit per instance (web.1 -> {app}-web-1.service), each with its own PORT and PS,",
        "# running `/bin/sh -c COMMAND` with the environment it gets under `supervise up`",
        "# (env files, env, PORT, PS; not your shell's variables).",
        "# Left out, because systemd has no equivalent: watch (restarts on file changes),",
        "# ready probes (units are started in depends_on order, without waiting for",
        "# readiness), and the doubling backoff (RestartSec= is backoff.initial, fixed).",
        "# startsecs/startretries become StartLimitBurst=/StartLimitIntervalSec=.",
    ]
    tasks = [s.name for s in plan.specs if s.is_task]
    if tasks:
        lines.append(
            f"# One-shot tasks ({', '.join(tasks)}): Type=oneshot units; what depends on them has "
            "Requires= and After= on them, so it starts only once they exited successfully."
        )
    if manual:
        lines.append(f"# Not started with the target (autostart = false): {' '.join(manual)}")
    lines += [
        "",
        "[Unit]",
        f"Description={app} (supervise export)",
    ]
    if wanted:
        lines.append(f"Wants={' '.join(wanted)}")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def _service(plan: Plan, app: str, instance: Instance, options: ExportOptions) -> str:
    spec = instance.spec
    name = unit_name(app, instance)
    deps = [dep for dep_name in spec.depends_on for dep in plan.instances_of(dep_name)]
    lines = [f"# {instance.name} of {app}, written by `supervise export`; see {app}.target."]
    if spec.is_task:
        lines.append(
            "# A one-shot task: Type=oneshot, so the units that require it start only once it has "
            "exited successfully."
        )
    left_out = [what for what, used in (("watch", spec.watch), ("ready", spec.ready)) if used]
    if left_out:
        lines.append(f"# Left out (no systemd equivalent): {' and '.join(left_out)}.")
    lines += ["", "[Unit]", f"Description={app} {instance.name}", f"PartOf={app}.target"]
    if deps:
        # A task is required: if it fails, what depends on it does not start.
        required = [unit_name(app, dep) for dep in deps if dep.spec.is_task]
        wanted = [unit_name(app, dep) for dep in deps if not dep.spec.is_task]
        lines.append(f"After={' '.join(unit_name(app, dep) for dep in deps)}")
        lines += [f"Requires={' '.join(required)}"] if required else []
        lines += [f"Wants={' '.join(wanted)}"] if wanted else []
    lines += _start_limit(spec)
    if spec.is_task:
        # Started = exited successfully; it stays "active" so units that require it can start
        # later too, and a migration may take longer than the default 90 s start timeout.
        lines += ["", "[Service]", "Type=oneshot", "RemainAfterExit=yes", "TimeoutStartSec=infinity"]
    else:
        lines += ["", "[Service]", "Type=simple"]
    exec_start, environment, directory = _launch(instance)
    if directory is not None:
        lines.append(f"WorkingDirectory={plain_value(directory)}")
    if options.user is not None:
        lines.append(f"User={plain_value(options.user)}")
    lines += [f"Environment={value}" for value in environment]
    lines.append(f"ExecStart={exec_start}")
    lines += _restart(spec)
    lines += [
        # The stop signal to the program alone (mixed) or to its whole group, as `up` sends it.
        f"KillMode={'control-group' if spec.stops_as_group else 'mixed'}",
        f"KillSignal=SIG{spec.stopsignal}",
        # systemd reads TimeoutStopSec=0 as "never SIGKILL"; supervise's 0 means at once.
        f"TimeoutStopSec={seconds(max(spec.stop_timeout, 0.001))}",
        f"SyslogIdentifier={name.removesuffix('.service')}",
    ]
    if options.log_dir is not None:
        base = plain_value(str(options.log_dir / name.removesuffix(".service")))
        lines += [f"StandardOutput=append:{base}.out.log", f"StandardError=append:{base}.err.log"]
    if spec.autostart:
        lines += ["", "[Install]", f"WantedBy={app}.target"]
    return "\n".join(lines) + "\n"


def _launch(instance: Instance) -> tuple[str, list[str], str | None]:
    """(ExecStart=, Environment= values, WorkingDirectory=) that start the instance as `up` does."""
    env = checked_env(instance)
    directory = str(instance.cwd)
    values = {key: environment_value(key, value) for key, value in env.items()}
    if plain_problem(directory) is not None:
        # WorkingDirectory= cannot hold it: a shell cds there, and every value goes
        # to env(1) after it, since the shell owns PWD and OLDPWD.
        argv = [ENV, "--", *(f"{k}={v}" for k, v in env.items()), SH, "-c", instance.spec.shell_line]
        return exec_line([SH, "-c", CD_THEN_EXEC, directory, *argv]), [], None
    passed = [key for key, value in values.items() if value is None]
    argv = [SH, "-c", instance.spec.shell_line]
    if passed:
        argv = [ENV, "--", *(f"{key}={env[key]}" for key in passed), *argv]
    return exec_line(argv), [value for value in values.values() if value is not None], directory


def _restart(spec: ProcessSpec) -> list[str]:
    """Restart= and exit-status sets with supervisord's meaning of autorestart and exitcodes."""
    policy = spec.restart
    lines = [
        {Autorestart.ALWAYS: "Restart=always", Autorestart.NEVER: "Restart=no"}.get(
            policy.autorestart, "Restart=on-failure"
        ),
        f"RestartSec={seconds(policy.backoff.initial)}",
    ]
    success = [str(code) for code in policy.exitcodes if code != 0]
    if success:
        lines.append(f"SuccessExitStatus={' '.join(success)}")
    if policy.autorestart is Autorestart.UNEXPECTED:
        # on-failure takes exit 0 and SIGTERM & co. as clean; supervise expects
        # only `exitcodes`, never a signal.
        force = ([] if 0 in policy.exitcodes else ["0"]) + [CLEAN_SIGNALS]
        lines.append(f"RestartForceExitStatus={' '.join(force)}")
    return lines


def _start_limit(spec: ProcessSpec) -> list[str]:
    """supervisord's FATAL after 1 + startretries starts that die within startsecs, as a window."""
    policy = spec.restart
    if policy.startsecs <= 0 or policy.autorestart is Autorestart.NEVER:
        return ["StartLimitIntervalSec=0"]
    starts = policy.startretries + 1
    window = starts * (policy.startsecs + policy.backoff.initial)
    return [f"StartLimitIntervalSec={seconds(window)}", f"StartLimitBurst={starts}"]
