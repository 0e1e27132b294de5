"""Options before the command, as honcho and foreman users type them (PRODUCT.md §2)."""

from __future__ import annotations

import pytest

from supervise.commands.argv import hoist, split_leading
from supervise.errors import UsageError

UP = {"-f", "--procfile", "-e", "--env-file", "-m", "--formation", "-c", "--concurrency", "--no-colour"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-e", ".env.x", "run", "pytest"], ["run", "-e", ".env.x", "pytest"]),
        (["-f", "Procfile.dev", "up", "web"], ["up", "-f", "Procfile.dev", "web"]),
        (["--env-file=.env.x", "-cweb=2", "up"], ["up", "--env-file=.env.x", "-cweb=2"]),
        (
            ["--no-colour", "-e", "a,b", "up", "-m", "web=2"],
            ["up", "--no-colour", "-e", "a,b", "-m", "web=2"],
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
    assert hoist(["-e", ".env", "run", "--", "ls", "-e"], None) == ["run", "-e", ".env", "--", "ls", "-e"]


def test_an_option_the_command_does_not_take_is_one_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        hoist(["-t", "5", "run", "pytest"], {"-e", "--env-file"})
    assert str(caught.value) == "run does not take -t (see supervise run --help)"
    assert hoist(["-e", "x", "up"], UP) == ["up", "-e", "x"]
