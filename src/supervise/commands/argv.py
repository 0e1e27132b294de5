"""Options before the command, as honcho and foreman users type them.

`supervise -e .env.test run pytest` and `supervise -f Procfile.dev up` are
rewritten to put the common options after the command name, where each
command declares them, so one declaration serves both places. No typer here:
`cli.main` calls this before it knows which command's parser to build.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from supervise.errors import UsageError

VALUED = frozenset(
    {"-f", "--procfile", "-d", "--root", "-e", "--env-file", "-p", "--port", "-t", "--stop-timeout"}
    | {"-m", "--formation", "-c", "--concurrency"}
)
"""Common options that take a value (`-e FILE`, `-eFILE`, `--env-file=FILE`)."""
FLAGS = frozenset(["--no-color", "--no-colour", "--no-prefix", "--no-timestamp"])
"""Common options that take none."""
LONG = {
    "-f": "--procfile",
    "-d": "--root",
    "-e": "--env-file",
    "-p": "--port",
    "-t": "--stop-timeout",
    "-m": "--formation",
    "-c": "--concurrency",
}
"""Moved options are spelled long: a command that gives the letter another meaning
(`logs -f` is --follow) still reads `supervise -f Procfile.dev logs` as meant."""


def option_name(arg: str) -> str:
    """`--env-file=x` -> `--env-file`, `-ex` -> `-e`, `-e` -> `-e`."""
    if arg.startswith("--"):
        return arg.partition("=")[0]
    return arg[:2]


def split_leading(args: Sequence[str]) -> tuple[list[str], str | None, list[str]]:
    """(common options before the command, the command, everything after it).

    Stops at the first word that is neither a common option nor its value: that
    word is the command (None when it is an option we do not move, such as --help).
    """
    leading: list[str] = []
    at = 0
    while at < len(args):
        arg = args[at]
        name = option_name(arg)
        if arg in FLAGS:
            leading.append(arg)
            at += 1
        elif name in VALUED and arg == name:  # the value is the next word
            leading += args[at : at + 2]
            at += 2
        elif name in VALUED:  # -eFILE or --env-file=FILE
            leading.append(arg)
            at += 1
        else:
            break
    if at >= len(args) or args[at].startswith("-"):
        return leading, None, list(args[at:])
    return leading, args[at], list(args[at + 1 :])


def hoist(args: Sequence[str], accepted: Collection[str] | None) -> list[str]:
    """`args` with the common options given before the command moved after it.

    `accepted`: the option names the command declares (None: do not check).
    An option it does not take is one usage error, not a silent drop.
    """
    leading, command, rest = split_leading(args)
    if not leading or command is None:
        return list(args)
    moved: list[str] = []
    words = iter(leading)
    for arg in words:
        name = option_name(arg)
        long = LONG.get(name, name)
        if accepted is not None and long not in accepted:
            raise UsageError(f"{command} does not take {name} (see supervise {command} --help)")
        if arg in FLAGS:
            moved.append(arg)
        elif arg == name:  # `-e FILE`, `--env-file FILE`: the value is the next word
            moved += [long, next(words)]
        elif arg.startswith("--"):  # `--env-file=FILE`
            moved.append(arg)
        else:  # `-eFILE`
            moved.append(f"{long}={arg[2:]}")
    return [command, *moved, *rest]
