"""`up --log-dir DIR` and `log_dir` (PRODUCT.md §7): raw output per instance, rotated as supervisord's."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

from tests.support import UpProcess, run_cli, write_files

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(?:[+-]\d\d:\d\d|Z)"
TASK = "[tool.supervise.processes.{name}]\nstartsecs = 0\nautorestart = false\n"
RAW = b"\x1b[32mgreen\x1b[0m\r\n50%\r100%\ncaf\xc3\xa9 \xff\xfe\nno newline at the end"


def generations(path: Path) -> list[Path]:
    """`path.N` ... `path.1`, `path`: oldest first."""
    backups = sorted(path.parent.glob(f"{path.name}.*"), key=lambda p: int(p.suffix[1:]), reverse=True)
    return [*backups, path] if path.exists() else backups


def test_each_instance_gets_its_raw_bytes_and_supervise_log_the_system_lines(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "app",
        {
            "raw.bin": RAW,
            "Procfile": "web: cat raw.bin\nworker: echo one; echo two >&2\n",
            "pyproject.toml": '[tool.supervise]\nprocfile = "Procfile"\n'
            + TASK.format(name="web")
            + TASK.format(name="worker"),
        },
    )
    with UpProcess(["--log-dir", "../logs"], root) as up:
        assert up.finish() == 0
    logs = tmp_path / "logs"  # relative to where `up` was started
    assert sorted(p.name for p in logs.iterdir()) == ["supervise.log", "web.1.log", "worker.1.log"]
    assert (logs / "web.1.log").read_bytes() == RAW  # no prefix, no color stripping, no decoding
    assert (logs / "worker.1.log").read_bytes() == b"one\ntwo\n"
    system = (logs / "supervise.log").read_text().splitlines()
    shown = [line.split("| ", 1)[1] for line in up.output.splitlines() if " system " in line]
    assert [re.fullmatch(f"{ISO} (.*)", line).group(1) for line in system] == shown  # type: ignore[union-attr]
    assert "web.1 exited with code 0 (expected)" in shown


def test_log_dir_in_pyproject_is_relative_to_the_root_and_rotates(tmp_path: Path) -> None:
    # 2000 numbered lines of 50 bytes in bursts, through files of at most 4000 bytes.
    writer = (
        "import sys\n"
        "for start in range(0, 2000, 37):\n"
        "    burst = range(start, min(start + 37, 2000))\n"
        "    sys.stdout.write(''.join(f'{k:06d} ' + 'x' * 42 + '\\n' for k in burst))\n"
        "    sys.stdout.flush()\n"
    )
    root = write_files(
        tmp_path / "app",
        {
            "writer.py": writer,
            "pyproject.toml": (
                '[tool.supervise]\nlog_dir = "var/log"\nlog_max_bytes = 4000\nlog_backups = 100\n'
                f'[tool.supervise.processes.web]\ncommand = "exec {sys.executable} writer.py"\n'
                "startsecs = 0\nautorestart = false\n"
            ),
        },
    )
    with UpProcess([], root) as up:
        assert up.finish() == 0
    files = generations(root / "var" / "log" / "web.1.log")
    assert len(files) == 25  # 100,000 bytes, 80 lines (4000 bytes) per file
    expected = b"".join(b"%06d " % k + b"x" * 42 + b"\n" for k in range(2000))
    assert b"".join(p.read_bytes() for p in files) == expected  # nothing lost, in order
    assert all(len(p.read_bytes()) <= 4000 and p.read_bytes().endswith(b"\n") for p in files)


def test_only_log_backups_old_files_are_kept(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "app",
        {
            "pyproject.toml": (
                "[tool.supervise]\nlog_max_bytes = 100\nlog_backups = 2\n"
                '[tool.supervise.processes.web]\ncommand = "for i in $(seq 10 99); do echo line $i; done"\n'
                "startsecs = 0\nautorestart = false\n"
            ),
        },
    )
    with UpProcess(["--log-dir", "logs"], root) as up:
        assert up.finish() == 0
    files = generations(root / "logs" / "web.1.log")
    assert [p.name for p in files] == ["web.1.log.2", "web.1.log.1", "web.1.log"]
    assert b"".join(p.read_bytes() for p in files).endswith(b"line 98\nline 99\n")


def test_output_of_every_run_is_appended(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "app",
        {"Procfile": "web: echo run; exec sleep 600\n", "pyproject.toml": ""},
    )
    for _ in range(2):
        with UpProcess(["--log-dir", "logs"], root) as up:
            up.wait_for(r"web\.1 +\| run")
            up.signal(signal.SIGINT)
            assert up.finish() == 130
    assert (root / "logs" / "web.1.log").read_bytes() == b"run\nrun\n"
    assert (root / "logs" / "supervise.log").read_text().count("SIGINT received, stopping") == 2


def test_a_log_dir_that_cannot_be_made_is_one_line_exit_2_before_anything_starts(tmp_path: Path) -> None:
    root = write_files(tmp_path / "app", {"Procfile": "web: touch started\n", "taken": ""})
    result = run_cli("up", "--log-dir", "taken/logs", cwd=root)
    assert result.returncode == 2
    assert (
        result.stderr
        == f"supervise: log folder {root / 'taken' / 'logs'}: cannot create it: Not a directory\n"
    )
    assert not (root / "started").exists()
