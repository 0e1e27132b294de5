"""Plan -> one supervisord include file, with supervisord's quoting rules.

A value in the file passes through four readers before the process sees it,
and every exporter so far has tripped over one of them:

1. configparser (supervisord's UnhosedConfigParser): one line per value, the
   value stripped, and `;` or `#` after whitespace starts a comment.
2. `expand_here`: the text `%(here)s` anywhere is replaced by the file's folder.
3. `%` expansion (`%(program_name)s` ...): a literal `%` must be `%%`.
4. `environment=`: `dict_of_key_value_pairs`, a non-POSIX shlex that keeps no
   escapes and strips every quote at either end of a value; `command=`:
   POSIX `shlex.split`.

Values `environment=` cannot carry (both quote kinds, a quote at an end,
`;`/`#` after whitespace, odd keys) are passed as `/usr/bin/env -- KEY=VALUE`
arguments in the command instead. Text no line can hold (a newline or carriage
return, in a value or the command), or a directory `directory=` cannot hold,
goes through a `/bin/sh -c` script that builds it with printf and `cd`s.
Either way the process ends as `/bin/sh -c COMMAND` with the plan's
environment, as under `supervise up`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from supervise.config.model import LogPolicy
from supervise.errors import UsageError
from supervise.export import ExportOptions, app_problem, checked_env
from supervise.plan import Instance, Plan, dependency_order

"""App names that make valid supervisord group and program names everywhere."""

SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
"""Words the shell and shlex.split read as themselves (`%` is escaped later)."""

ENV_KEY = re.compile(r"[A-Za-z0-9_/.+():-]+")
"""Keys dict_of_key_value_pairs reads as one word: shlex's wordchars plus supervisor's."""

QUOTES = "'\""
LINE_BREAKS = "\n\r"
"""Python reads config files with universal newlines: both end a line."""

ENV = "/usr/bin/env"
SH = "/bin/sh"
PRIORITY_BASE = 100
PRIORITY_STEP = 10


def percent_escape(text: str) -> str:
    """Protect `%` from supervisord's `%(name)s` expansion."""
    return text.replace("%", "%%")


def ini_problem(text: str) -> str | None:
    """Why configparser and `expand_here` would not hand `text` back unchanged, or None."""
    if any(char in text for char in LINE_BREAKS):
        return "a line break"
    if text != text.strip():
        return "whitespace at an end"
    comment = _comment_start(text)
    if comment is not None:
        return f'"{text[comment]}" after whitespace (starts a comment)'
    if "%(here)s" in text:
        return '"%(here)s" (replaced by supervisord)'
    return None


def _comment_start(text: str) -> int | None:
    """Index of a `;` or `#` that configparser takes as an inline comment."""
    for index, char in enumerate(text):
        if char in ";#" and index > 0 and text[index - 1].isspace():
            return index
    return None


def env_entry(key: str, value: str) -> str | None:
    """`KEY="value"` for `environment=` (`%` escaped), or None when it cannot carry it.

    dict_of_key_value_pairs keeps everything between the quotes but strips any
    quote at either end of the value, and knows no escapes; configparser cuts
    the line at `;`/`#` after whitespace.
    """
    if not ENV_KEY.fullmatch(key):
        return None
    if value and (value[0] in QUOTES or value[-1] in QUOTES):
        return None
    quote = '"' if '"' not in value else "'"
    if quote in value:
        return None  # both quote kinds
    if any(char in value for char in LINE_BREAKS) or "%(here)s" in value or _comment_start(value) is not None:
        return None
    return percent_escape(f"{key}={quote}{value}{quote}")


def shell_word(word: str) -> str:
    """`word` quoted for a POSIX shell script; newlines become `"$nl"`, CRs `"$cr"`."""
    if SHELL_SAFE.fullmatch(word):
        return word
    quoted = []
    for part in re.split(r"([\n\r])", word):
        if part == "\n":
            quoted.append('"$nl"')
        elif part == "\r":
            quoted.append('"$cr"')
        elif not part:
            continue
        elif "'" not in part:
            quoted.append(f"'{part}'")
        elif not any(char in part for char in '"$`\\'):
            quoted.append(f'"{part}"')
        else:
            quoted.append("'" + part.replace("'", "'\\''") + "'")
    return "".join(quoted) or "''"


def command_word(word: str) -> str:
    """`word` for `command=`: one `shlex.split` word that configparser and expand_here keep.

    Single quotes, or double quotes with `\\` and `\"` escaped when the word has
    a single quote (shlex has no `$` expansion). An empty quoted pair, invisible
    to shlex, is slipped in between whitespace and `;`/`#` and inside `%(`,
    where configparser or expand_here would cut or replace the text. The caller
    `%`-escapes the whole line. No line breaks: see `shell_script`.
    """
    if any(char in word for char in LINE_BREAKS):
        raise ValueError("command_word cannot hold a line break; use shell_script")
    if SHELL_SAFE.fullmatch(word):
        return word
    if "'" not in word:
        quote, body = "'", word
    else:
        quote, body = '"', word.replace("\\", "\\\\").replace('"', '\\"')
    broken = []
    for index, char in enumerate(body):
        if index and (
            (char in ";#" and body[index - 1].isspace()) or (char == "(" and body[index - 1] == "%")
        ):
            broken.append(quote * 2)
        broken.append(char)
    return quote + "".join(broken) + quote


def shell_script(argv: Sequence[str], directory: str | None) -> str:
    """A one-line sh script that (cds and) execs `argv`, building line breaks with printf."""
    text = " ".join([*argv, directory or ""])
    prelude = []
    if "\n" in text:
        prelude.append("nl=$(printf '\\n_'); nl=${nl%_}; ")
    if "\r" in text:
        prelude.append("cr=$(printf '\\r_'); cr=${cr%_}; ")
    cd = f"cd -- {shell_word(directory)} && " if directory is not None else ""
    return "".join(prelude) + cd + "exec " + " ".join(shell_word(word) for word in argv)


def command_line(argv: Sequence[str]) -> str:
    """The `command=` value (`%` escaped) that supervisord splits back into `argv`."""
    return percent_escape(" ".join(command_word(word) for word in argv))


def program_name(app: str, instance: Instance) -> str:
    """`APP-web-1`: one program per instance, named after it (`web.1`)."""
    return f"{app}-{instance.process}-{instance.number}"


def render(plan: Plan, options: ExportOptions) -> dict[str, str]:
    """`{APP.conf: text}`: a group over one program per instance of the plan."""
    app = _check_app(options.app)
    if not plan.instances:
        raise UsageError("nothing to export: the formation leaves no instances")
    user = _check_option("--user", options.user)
    log_dir = _check_option("--log-dir", str(options.log_dir)) if options.log_dir else None
    order = dependency_order(plan.specs)
    priority = {name: PRIORITY_BASE + PRIORITY_STEP * index for index, name in enumerate(order)}
    instances = sorted(plan.instances, key=lambda i: (order.index(i.process), i.number))
    programs = [program_name(app, instance) for instance in instances]
    sections = [
        _header(plan, app, log_dir),
        f"[group:{app}]\nprograms={','.join(programs)}\n",
    ]
    for instance in instances:
        program = _program(app, instance, priority[instance.process], user, log_dir, plan.project.logs)
        if instance.spec.is_task:
            program = _task_comment(plan, instance) + program
        sections.append(program)
    return {f"{app}.conf": "\n".join(sections)}


def _task_comment(plan: Plan, instance: Instance) -> str:
    """Why a task has the lowest priority, and what supervisord still cannot do for it."""
    dependents = [spec.name for spec in plan.specs if instance.process in spec.depends_on]
    after = f" ({', '.join(dependents)})" if dependents else ""
    lines = [
        f"# {instance.name} is a one-shot task (startsecs = 0, autorestart = false). It has the lowest",
        "# priority, so supervisord starts it first, but supervisord cannot wait for it to complete:",
        f"# what depends on it{after} starts right after it, even if it fails. To keep the order,",
        f"# run it to completion first (supervise run {instance.process}), then start the group.",
    ]
    return "\n".join(lines) + "\n"


def _program(
    app: str, instance: Instance, priority: int, user: str | None, log_dir: str | None, logs: LogPolicy
) -> str:
    spec = instance.spec
    name = program_name(app, instance)
    command, environment, directory = _launch(instance)
    lines = [f"[program:{name}]", f"command={command}"]
    if directory is not None:
        lines.append(f"directory={percent_escape(directory)}")
    if environment:
        lines.append(f"environment={','.join(environment)}")
    policy = spec.restart
    lines += [
        f"autostart={str(spec.autostart).lower()}",
        f"autorestart={policy.autorestart.value}",
        f"exitcodes={','.join(str(code) for code in policy.exitcodes)}",
        f"startsecs={math.ceil(policy.startsecs)}",
        f"startretries={policy.startretries}",
        f"stopsignal={spec.stopsignal}",
        f"stopwaitsecs={math.ceil(spec.stop_timeout)}",
        f"stopasgroup={str(spec.stops_as_group).lower()}",
        "killasgroup=true",
        f"priority={priority}",
    ]
    if user is not None:
        lines.append(f"user={percent_escape(user)}")
    if log_dir is not None:
        base = percent_escape(str(Path(log_dir) / name))
        lines += [f"stdout_logfile={base}.out.log", f"stderr_logfile={base}.err.log"]
    for stream in ("stdout", "stderr"):  # log_max_bytes and log_backups, as `up --log-dir` rotates
        lines += [f"{stream}_logfile_maxbytes={logs.max_bytes}", f"{stream}_logfile_backups={logs.backups}"]
    return "\n".join(lines) + "\n"


def _launch(instance: Instance) -> tuple[str, list[str], str | None]:
    """(command=, environment= entries, directory=) that start the instance as `up` does."""
    env = checked_env(instance)
    directory = str(instance.cwd)
    cd_in_shell = ini_problem(directory) is not None
    entries = {key: env_entry(key, value) for key, value in env.items()}
    passed = [key for key, entry in entries.items() if entry is None]
    texts = [instance.spec.shell_line, *passed, *(env[key] for key in passed)]
    if cd_in_shell or any(char in text for text in texts for char in LINE_BREAKS):
        # A shell in between owns PWD, OLDPWD and maybe SHLVL: hand every value
        # to env(1) after it, so the process still gets exactly the plan's.
        argv = [
            ENV,
            "--",
            *(f"{key}={value}" for key, value in env.items()),
            SH,
            "-c",
            instance.spec.shell_line,
        ]
        script = shell_script(argv, directory if cd_in_shell else None)
        return command_line([SH, "-c", script]), [], None if cd_in_shell else directory
    argv = [SH, "-c", instance.spec.shell_line]
    if passed:
        argv = [ENV, "--", *(f"{key}={env[key]}" for key in passed), *argv]
    return command_line(argv), [entry for entry in entries.values() if entry is not None], directory


def _check_app(app: str) -> str:
    problem = app_problem(app)
    if problem:
        raise UsageError(f'--app: "{app}" cannot name a supervisord group ({problem}); give --app NAME')
    return app


def _check_option(option: str, value: str | None) -> str | None:
    """A --user or --log-dir value as is, or a usage error when the file cannot hold it."""
    if value is None:
        return None
    problem = ini_problem(value)
    if problem is None and option == "--user" and any(char.isspace() for char in value):
        problem = "whitespace"
    if problem is not None:
        raise UsageError(f'{option}: "{value}" cannot be written into a supervisord config ({problem})')
    return value


def _header(plan: Plan, app: str, log_dir: str | None) -> str:
    uses = []
    for spec in plan.specs:
        features = [what for what, used in (("watch", spec.watch), ("ready", spec.ready)) if used]
        if features:
            uses.append(f"#   {spec.name} uses {' and '.join(features)}.")
    if log_dir:
        logs = f"# Logs: {log_dir}/PROGRAM.out.log and .err.log (create the folder first)."
    else:
        logs = f"# Logs: supervisord's AUTO files in its childlogdir (supervisorctl tail -f {app}:PROGRAM)."
    policy = plan.project.logs
    rotation = (
        f"# They rotate past {policy.max_bytes} bytes, keeping {policy.backups} old files"
        " (log_max_bytes, log_backups)."
        if policy.max_bytes
        else "# They never rotate (log_max_bytes = 0)."
    )
    lines = [
        f"# supervisord programs for {app}, written by `supervise export --format supervisord`.",
        "# Include this file from supervisord.conf:",
        "#     [include]",
        f"#     files = /etc/supervisor/conf.d/{app}.conf",
        "# then load it:  supervisorctl reread && supervisorctl update",
        f"# and manage it: supervisorctl status {app}:*   supervisorctl restart {app}:*",
        "#",
        f"# One program per instance (web.1 -> {app}-web-1): each has its own PORT, which",
        "# numprocs cannot compute. Each runs `/bin/sh -c COMMAND` with the environment it",
        "# gets under `supervise up` (env files, env, PORT, PS; not your shell's variables).",
        "# Values environment= cannot hold are passed by /usr/bin/env in the command.",
        logs,
        rotation,
        "#",
        "# Left out, because supervisord has no equivalent:",
        "#   watch: no restarts on file changes (a development feature).",
        "#   ready: supervisord does not wait for readiness; depends_on only orders",
        "#     start-up by priority (dependencies start first and stop last).",
        "#   backoff: supervisord waits 1 s, 2 s, 3 s ... between failed starts (linear),",
        "#     not supervise's doubling delay. startsecs and stop_timeout round up to seconds.",
        *uses,
    ]
    return "\n".join(lines) + "\n"
