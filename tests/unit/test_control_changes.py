"""The control socket's `signal`, `reload` and `scale` ops, and the status fields (PRODUCT.md §8)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from supervise.config.model import signal_number
from supervise.errors import ControlError
from supervise.runtime.control.protocol import InstanceStatus
from supervise.runtime.reload import merge_formation
from tests.unit.test_control import FakeTarget, ask, environ, root, serve

__all__ = ["environ", "root"]  # fixtures


def test_status_measures_usage_before_answering(root: Path, environ: dict[str, str]) -> None:
    target = FakeTarget()
    answer = serve(root, environ, lambda _: ask(root, environ, {"op": "status"}), target)
    assert target.calls == [("measure", [])]
    web = InstanceStatus.from_json(answer["instances"][0])
    assert (web.cpu, web.memory, web.last_exit) == (12.5, 48_000_000, None)


def test_status_from_an_older_up_gets_defaults_for_the_new_fields() -> None:
    old = {"name": "web.1", "process": "web", "state": "RUNNING", "pid": 7, "uptime": 1.0, "restarts": 0}
    status = InstanceStatus.from_json({**old, "port": 5000, "ready": None, "newer": "ignored"})
    assert (status.waiting_for, status.last_exit, status.cpu, status.memory) == (None, None, None, None)


@pytest.mark.parametrize("sig", ["HUP", "SIGHUP", "hup", "1", 1])
def test_signal_by_name_or_number_reaches_the_resolved_instances(
    root: Path, environ: dict[str, str], sig: Any
) -> None:
    target = FakeTarget()
    message = {"op": "signal", "signal": sig, "names": ["web"]}
    answer = serve(root, environ, lambda _: ask(root, environ, message), target)
    assert target.calls == [(f"signal {int(signal.SIGHUP)}", ["web.1", "web.2"])]
    assert answer["signalled"] == [{"name": "web.1", "pids": [101]}, {"name": "web.2", "pids": [102]}]


@pytest.mark.parametrize("sig", ["NOPE", "0", "999", None, ["HUP"]])
def test_unknown_signal_is_exit_2(root: Path, environ: dict[str, str], sig: Any) -> None:
    target = FakeTarget()
    message = {"op": "signal", "signal": sig, "names": ["web"]}
    with pytest.raises(ControlError) as caught:
        serve(root, environ, lambda _: ask(root, environ, message), target)
    assert caught.value.exit_code == 2
    assert "unknown signal" in str(caught.value)
    assert target.calls == []


def test_signal_to_an_unknown_name_is_exit_2(root: Path, environ: dict[str, str]) -> None:
    message = {"op": "signal", "signal": "HUP", "names": ["nope"]}
    with pytest.raises(ControlError) as caught:
        serve(root, environ, lambda _: ask(root, environ, message))
    assert caught.value.exit_code == 2
    assert 'unknown instance, process or group "nope"' in str(caught.value)


def test_reload_answers_with_the_summary(root: Path, environ: dict[str, str]) -> None:
    answer = serve(root, environ, lambda _: ask(root, environ, {"op": "reload"}))
    assert answer["summary"] == ".env changed: restarting web (env DEBUG); 2 unchanged"


def test_reload_of_a_broken_config_is_exit_2_with_its_location(root: Path, environ: dict[str, str]) -> None:
    target = FakeTarget()
    target.broken_config = True
    with pytest.raises(ControlError) as caught:
        serve(root, environ, lambda _: ask(root, environ, {"op": "reload"}), target)
    assert caught.value.exit_code == 2
    assert str(caught.value) == "pyproject.toml:3: invalid TOML: expected '=' (at line 3, column 5)"


def test_scale_passes_the_counts(root: Path, environ: dict[str, str]) -> None:
    target = FakeTarget()
    message = {"op": "scale", "formation": {"web": 3, "worker": 0}}
    answer = serve(root, environ, lambda _: ask(root, environ, message), target)
    assert target.calls == [("scale", ["web=3", "worker=0"])]
    assert answer["summary"].startswith("scale web=3")


@pytest.mark.parametrize("formation", [None, {}, {"web": -1}, {"web": "3"}, {"web": True}, ["web", 3]])
def test_scale_with_a_malformed_formation_is_exit_2(
    root: Path, environ: dict[str, str], formation: Any
) -> None:
    with pytest.raises(ControlError) as caught:
        serve(root, environ, lambda _: ask(root, environ, {"op": "scale", "formation": formation}))
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "number"),
    [("HUP", 1), ("SIGUSR1", signal.SIGUSR1), ("usr1", signal.SIGUSR1), ("9", 9), (" term ", 15)],
)
def test_signal_number_accepts_names_and_numbers(text: str, number: int) -> None:
    assert signal_number(text) == number


@pytest.mark.parametrize("text", ["", "0", "-1", "65", "SIGNOPE", "1.5"])
def test_signal_number_refuses_the_rest(text: str) -> None:
    assert signal_number(text) is None


@pytest.mark.parametrize(
    ("current", "counts", "merged"),
    [
        ({}, {"web": 3}, {"web": 3}),
        ({"web": 2, "worker": 1}, {"worker": 0}, {"web": 2, "worker": 0}),
        ({"web": 2}, {"all": 1}, {"all": 1}),  # all=N means every type, earlier counts included
        ({"all": 2}, {"web": 3}, {"all": 2, "web": 3}),
    ],
)
def test_scale_counts_merge_over_the_formation_in_force(
    current: dict[str, int], counts: dict[str, int], merged: dict[str, int]
) -> None:
    assert merge_formation(current, counts) == merged
