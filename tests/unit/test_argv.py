"""Options before the command, as honcho and foreman users type them (PRODUCT.md §2)."""

from __future__ import annotations

import pytest

from supervise.commands.argv import hoist, split_leading
from supervise.errors import UsageError

UP = {"-f", "--procfile", "-e", "--env-file", "-m", "--formation", "-c", "--concurrency", "--no-colour"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-e", ".env.x", "run", "pytest"], ["run", "--env-file", ".env.x", "pytest"]),
        (["-f", "Procfile.dev", "up", "web"], ["up", "--procfile", "Procfile.dev", "web"]),
        (["--env-file=.env.x", "-cweb=2", "up"], ["up", "--env-file=.env.x", "--concurrency=web=2"]),
        (
            ["--no-colour", "-e", "a,b", "up", "-m", "web=2"],
            ["up", "--no-colour", "--env-file", "a,b", "-m", "web=2"],
        ),
        (["up", "-e", ".env"], ["up", "-e", ".env"]),  # already after: untouched
        (["--help"], ["--help"]),
        (["-e", ".env", "--help"], ["-e", ".env", "--help"]),  # no command: click explains
        (["-V"], ["-V"]),
        ([], []),
    ],
)
def test_common_options_move_after_the_command(args: list[str], expected: list[str]) -> None:
    assert hoist(args, None) == expected


def test_a_value_that_looks_like_a_command_is_still_a_value() -> None:
    assert split_leading(["-f", "up", "check"]) == (["-f", "up"], "check", [])


def test_options_after_a_run_command_stay_its_own() -> None:
    # `supervise -e .env run -- ls -e`: the second -e belongs to ls.
    assert hoist(["-e", ".env", "run", "--", "ls", "-e"], None) == [
        "run",
        "--env-file",
        ".env",
        "--",
        "ls",
        "-e",
    ]


def test_an_option_the_command_does_not_take_is_one_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        hoist(["-t", "5", "run", "pytest"], {"-e", "--env-file"})
    assert str(caught.value) == "run does not take -t (see supervise run --help)"
    assert hoist(["-e", "x", "up"], UP) == ["up", "--env-file", "x"]


def test_moved_options_are_spelled_long_for_a_command_whose_letter_means_another_thing() -> None:
    logs = {"-f", "--follow", "--procfile", "-d", "--root", "-n", "--lines"}
    assert hoist(["-f", "Procfile.dev", "logs", "web"], logs) == ["logs", "--procfile", "Procfile.dev", "web"]
    assert hoist(["-dapp", "logs"], logs) == ["logs", "--root=app"]
