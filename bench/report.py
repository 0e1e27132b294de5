"""Figures -> a Markdown table with ratios, the targets of issue 9 and whether each holds.

The targets live here, next to how each figure is shown, so the table and the
goals cannot drift apart.
"""

from __future__ import annotations

import datetime
import os
import platform
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field

from hostile import CHECK_LINES, Hostile
from idle import Idle
from reconfigure import COUNT as EDIT_COUNT
from reconfigure import Reconfigure
from reload import Reload
from rings import LINES as RING_INPUT_LINES
from rings import Rings
from scale import Scale
from shutdown import Shutdown
from startup import Startup
from terminals import Latency
from throughput import Run

RUNNERS = ("direct", "honcho", "supervise")
NA = "—"
X = "\N{MULTIPLICATION SIGN}"  # spelled out: ruff flags the literal as ambiguous


LEGEND = (
    "`direct` is the work without a runner: the producers writing into one pipe; `sh -c 'echo hi'`;"
    " `python -c pass`; the harness's own Popen of the same shells. Ratios are supervise's, against the"
    " column they name. CPU, wakeups and PSS are the runner's own processes (itself and its helpers in"
    " its session), never what it supervises."
)


@dataclass(frozen=True)
class Row:
    scenario: str
    figure: str
    cells: dict[str, str]
    ratio: str = NA  # supervise against the reference named in the text
    target: str = NA
    holds: bool | None = None


@dataclass
class Web:
    """The page open in a browser (`up --web`): throughput runs by runner, idle, or why it did not run."""

    throughput: dict[str, list[Run]] = field(default_factory=dict)
    browser_cpu: list[float | None] = field(default_factory=list)
    caught_up: list[bool] = field(default_factory=list)
    idle: dict[str, Idle] = field(default_factory=dict)
    why_not: str | None = None

    @property
    def ran(self) -> bool:
        """Something to show: figures, or why there are none."""
        return bool(self.throughput or self.idle) or self.why_not is not None


@dataclass
class Results:
    """Everything one run measured, by runner name (a runner missing from a dict was not measured)."""

    throughput: dict[str, list[Run]] = field(default_factory=dict)
    startup: dict[str, Startup] = field(default_factory=dict)
    idle: dict[str, Idle] = field(default_factory=dict)
    scale: dict[str, Scale] = field(default_factory=dict)
    logfiles: dict[str, list[Run]] = field(default_factory=dict)
    rings: dict[str, Rings] = field(default_factory=dict)
    shutdown: dict[str, dict[str, Shutdown]] = field(default_factory=dict)
    reload: dict[str, Reload] = field(default_factory=dict)
    hostile: dict[str, Hostile] = field(default_factory=dict)
    tty: dict[str, list[Run]] = field(default_factory=dict)
    attach: dict[str, Latency] = field(default_factory=dict)
    reconfigure: dict[str, Reconfigure] = field(default_factory=dict)
    web: Web = field(default_factory=Web)
    notes: list[str] = field(default_factory=list)


def _num(value: float | None, digits: int = 2, unit: str = "") -> str:
    return NA if value is None else f"{value:.{digits}f}{unit}"


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference <= 0:
        return None
    return value / reference


def _times(ratio: float | None, name: str) -> str:
    return NA if ratio is None else f"{ratio:.2f}{X} {name}"


def _median(values: Sequence[float | None]) -> float | None:
    good = sorted(v for v in values if v is not None)
    if not good:
        return None
    middle = len(good) // 2
    return good[middle] if len(good) % 2 else (good[middle - 1] + good[middle]) / 2


def _holds(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _against_direct(runs: dict[str, list[Run]]) -> tuple[dict[str, str], float | None]:
    """Median exec -> last line per runner as cells, with each one's ratio to `direct`;
    and supervise's slowdown against `direct`."""
    to_last = {name: _median([r.to_last for r in rs]) for name, rs in runs.items()}
    direct = to_last.get("direct")
    cells = {}
    for name, value in to_last.items():
        ratio = _ratio(value, direct)
        cells[name] = _num(value) + (f" ({ratio:.1f}{X})" if ratio is not None and name != "direct" else "")
    return cells, _ratio(to_last.get("supervise"), direct)


def _line_checks(runs: dict[str, list[Run]]) -> tuple[dict[str, str], bool | None]:
    """Each runner's worst lost / torn / reordered / duplicated counts, and whether
    supervise lost or tore none (None: not run)."""
    checks = {}
    for name, rs in runs.items():
        worst = [max(getattr(r.check, k) for r in rs) for k in ("lost", "torn", "reordered", "duplicated")]
        checks[name] = " / ".join(str(n) for n in worst)
    sup = runs.get("supervise", [])
    clean = all(r.check.lost == 0 and r.check.torn == 0 for r in sup) if sup else None
    return checks, clean


def throughput_rows(runs: dict[str, list[Run]]) -> list[Row]:
    cells, slowdown = _against_direct(runs)
    spread = {name: _median([r.first_to_last for r in rs]) for name, rs in runs.items()}
    checks, clean = _line_checks(runs)
    counts = ", ".join(f"{name} {len(rs)}" for name, rs in runs.items())
    lines = max((r.check.received + r.check.lost for rs in runs.values() for r in rs), default=0)
    cpu = {}
    for name, rs in runs.items():
        seconds = _median([r.runner_cpu for r in rs])
        per_line = f" ({seconds / lines * 1e6:.2f} µs/line)" if seconds is not None and lines else ""
        cpu[name] = _num(seconds) + per_line if name != "direct" else NA
    return [
        Row(
            "throughput",
            f"exec → last line, s (median of runs: {counts})",
            cells,
            _times(slowdown, "direct"),
            f"≤ 1.5{X} direct",
            _holds(slowdown, 1.5),
        ),
        Row("throughput", "first → last line, s", {k: _num(v) for k, v in spread.items()}),
        Row("throughput", f"runner CPU for the {lines:,} lines, s", cpu),
        Row("throughput", "lines lost / torn / reordered / duplicated", checks, NA, "0 lost, 0 torn", clean),
    ]


def logfiles_rows(runs: dict[str, list[Run]]) -> list[Row]:
    """supervise writing --log-dir files as well as the terminal view, against `direct`."""
    cells, slowdown = _against_direct(runs)
    sup = runs.get("supervise", [])
    lost = {}
    if sup:
        in_files = [r.file_lost for r in sup if r.file_lost is not None]
        worst_file = str(max(in_files)) if len(in_files) == len(sup) else NA
        lost["supervise"] = f"{max(r.check.lost + r.check.torn for r in sup)} / {worst_file}"
    clean = all(r.check.lost == 0 and r.check.torn == 0 and r.file_lost == 0 for r in sup) if sup else None
    counts = ", ".join(f"{name} {len(rs)}" for name, rs in runs.items())
    scenario = "throughput + `--log-dir`"
    return [
        Row(
            scenario,
            f"exec → last line, view and files, s (median of runs: {counts})",
            cells,
            _times(slowdown, "direct"),
            f"≤ 1.6{X} direct",
            _holds(slowdown, 1.6),
        ),
        Row(scenario, "lines lost on the terminal / in the log files", lost, NA, "0 / 0", clean),
    ]


def rings_rows(results: dict[str, Rings], count: int) -> list[Row]:
    sup = results.get("supervise")
    scenario = f"rings ({count} {X} {RING_INPUT_LINES:,} lines)"
    pss = None if sup is None or sup.pss_bytes is None else sup.pss_bytes / 1e6
    return [
        Row(
            scenario,
            "exec → every line printed, s",
            {n: _num(r.all_output) for n, r in results.items()},
        ),
        Row(
            scenario,
            "runner PSS with every ring full, MB",
            {n: _num(None if r.pss_bytes is None else r.pss_bytes / 1e6, 1) for n, r in results.items()},
            NA,
            "≤ 60 MB",
            _holds(pss, 60.0),
        ),
        Row(
            scenario,
            "lines `supervise logs -n 1000` shows for one instance",
            {n: _num(r.ring_lines, 0) if r.ring_lines is not None else NA for n, r in results.items()},
            NA,
            "1000",
            None if sup is None or sup.ring_lines is None else sup.ring_lines == 1000,
        ),
    ]


def startup_rows(results: dict[str, Startup], repeat: int) -> list[Row]:
    rows = []
    for label, attr, limit, reference in (
        # Issue 13: not slower than the first release's 1.34x honcho (installed, not editable).
        (f"exec → first process line, ms (median of {repeat})", "first_line", 1.34, "`sh -c 'echo hi'`"),
        (f"`--version`, ms (median of {repeat})", "version", 1.0, "`python -c pass`"),
    ):
        values = {name: getattr(s, attr) for name, s in results.items()}
        cpu = {name: getattr(s, f"{attr}_cpu") for name, s in results.items()}
        cells = {name: _ms(v) for name, v in values.items()}
        if "direct" in cells:
            cells["direct"] += f" ({reference})"
        ratio = _ratio(values.get("supervise"), values.get("honcho"))
        target = f"≤ {limit}{X} honcho"
        rows.append(Row("startup", label, cells, _times(ratio, "honcho"), target, _holds(ratio, limit)))
        cpu_ratio = _ratio(cpu.get("supervise"), cpu.get("honcho"))
        what = "runner CPU until then" if attr == "first_line" else "its CPU (user + system)"
        cpu_cells = {name: _ms(v) for name, v in cpu.items()}
        rows.append(Row("startup", f"… {what}, ms", cpu_cells, _times(cpu_ratio, "honcho")))
    return rows


def _ms(seconds: float | None) -> str:
    return _num(None if seconds is None else seconds * 1000, 0)


def idle_rows(results: dict[str, Idle]) -> list[Row]:
    sup = results.get("supervise")
    window = next((r.window for r in results.values() if r.cpu_seconds is not None), 10.0)
    return [
        Row(
            f"idle (20 {X} sleep)",
            f"runner CPU, % of a core over {window:.0f} s",
            {n: _num(r.cpu_percent, 3, " %") for n, r in results.items()},
            NA,
            "≤ 0.1 %",
            _holds(sup.cpu_percent, 0.1) if sup else None,
        ),
        Row(
            f"idle (20 {X} sleep)",
            "runner wakeups (context switches) per s",
            {n: _num(r.wakeups_per_s, 2) for n, r in results.items()},
            NA,
            "≤ 0.2 /s",
            _holds(sup.wakeups_per_s, 0.2) if sup else None,
        ),
        Row(
            f"idle (20 {X} sleep)",
            "runner processes / threads",
            {n: f"{r.processes} / {r.threads}" for n, r in results.items()},
        ),
    ]


WEB_THROUGHPUT = "throughput, page open (`up --web`)"
WEB_IDLE = f"idle (20 {X} sleep), page open"


def web_throughput_rows(web: Web) -> list[Row]:
    """Throughput with the page following the merged log in headless Chromium, against `direct`."""
    runs = web.throughput
    if web.why_not is not None and not runs.get("supervise"):
        return [Row(WEB_THROUGHPUT, "exec → last line, s", {"supervise": f"not run ({web.why_not})"})]
    if not runs:
        return []
    cells, slowdown = _against_direct(runs)
    sup = runs.get("supervise", [])
    counts = ", ".join(f"{name} {len(rs)}" for name, rs in runs.items())
    cpu = f"{_num(_median([r.runner_cpu for r in sup]))} / {_num(_median(web.browser_cpu))}"
    checks = {}
    for name, rs in runs.items():
        checks[name] = " / ".join(str(max(getattr(r.check, k) for r in rs)) for k in ("lost", "torn"))
    clean = all(r.check.lost == 0 and r.check.torn == 0 for r in sup) if sup else None
    return [
        Row(
            WEB_THROUGHPUT,
            f"producers start → last line, the page following the merged log, s (median of runs: {counts})",
            cells,
            _times(slowdown, "direct"),
            f"≤ 1.6{X} direct",
            _holds(slowdown, 1.6),
        ),
        Row(WEB_THROUGHPUT, "runner CPU / Chromium's CPU, go → last line, s", {"supervise": cpu}),
        Row(WEB_THROUGHPUT, "lines lost / torn", checks, NA, "0 lost, 0 torn", clean),
        Row(
            WEB_THROUGHPUT,
            "runs whose page ended on the last line printed (within 5 s)",
            {"supervise": f"{sum(web.caught_up)} of {len(web.caught_up)}"},
            NA,
            "all",
            all(web.caught_up) if web.caught_up else None,
        ),
    ]


def web_idle_rows(web: Web) -> list[Row]:
    """Idle with the page open: its status event once a second is all that should wake the runner."""
    sup = web.idle.get("supervise")
    if sup is None:
        return []
    return [
        Row(
            WEB_IDLE,
            f"runner CPU, % of a core over {sup.window:.0f} s",
            {"supervise": _num(sup.cpu_percent, 3, " %")},
        ),
        Row(
            WEB_IDLE,
            "runner wakeups (context switches) per s",
            {"supervise": _num(sup.wakeups_per_s, 2)},
        ),
    ]


def scale_rows(results: dict[str, Scale], count: int) -> list[Row]:
    sup, hon = results.get("supervise"), results.get("honcho")
    start_ratio = _ratio(sup.all_running if sup else None, hon.all_running if hon else None)
    pss = {n: None if r.pss_bytes is None else r.pss_bytes / 1e6 for n, r in results.items()}
    runners_only = {n: r for n, r in results.items() if n != "direct"}
    return [
        Row(
            f"scale ({count} {X} sleep)",
            f"exec → all {count} running, s",
            {n: _num(r.all_running) for n, r in results.items()},
            _times(start_ratio, "honcho"),
            f"≤ 0.5{X} honcho",
            _holds(start_ratio, 0.5),
        ),
        Row(
            f"scale ({count} {X} sleep)",
            "runner PSS, all its processes, MB",
            {
                n: _num(v, 1) + (f" ({results[n].processes} proc)" if v is not None else "")
                for n, v in pss.items()
            },
            _times(_ratio(pss.get("supervise"), pss.get("honcho")), "honcho"),
            "≤ 30 MB",
            _holds(pss.get("supervise"), 30.0),
        ),
        Row(
            f"scale ({count} {X} sleep)",
            "SIGINT → exit, s (exit code)",
            {n: f"{_num(r.sigint_exit)} ({_code(r.exit_code)})" for n, r in runners_only.items()},
            NA,
            "≤ 0.5 s",
            _holds(sup.sigint_exit, 0.5) if sup else None,
        ),
        Row(
            f"scale ({count} {X} sleep)",
            "survivors after exit",
            {n: _num(r.survivors, 0) if r.survivors is not None else NA for n, r in runners_only.items()},
            NA,
            "0",
            None if sup is None or sup.survivors is None else sup.survivors == 0,
        ),
    ]


EXPECTED_CODE = {"SIGINT": 130, "SIGTERM": 143, "Ctrl-C": 130}
MODE_LABEL = {
    "SIGINT": "SIGINT to the runner",
    "SIGTERM": "SIGTERM to the runner",
    "Ctrl-C": "Ctrl-C (SIGINT to its group)",
    "SIGKILL": "SIGKILL to the runner pid: orphans 2 s later (its helpers too)",
}


def _code(code: int | None) -> str:
    if code is None:
        return "killed after timeout"
    if code < 0:
        return f"died of {signal.Signals(-code).name}"
    return f"exit {code}"


def _stop_cell(s: Shutdown) -> str:
    bye = f", trap got {s.terms} TERM, bye" if s.bye else f", trap got {s.terms} TERM, no bye"
    orphans = NA if s.orphans is None else str(s.orphans)
    return f"{_num(s.exit_seconds)} s, {_code(s.exit_code)}, {orphans} orphans{bye}"


def _kill_cell(s: Shutdown) -> str:
    if s.orphans is None:
        return f"{NA} (did not start)"
    gone = f", all gone after {s.exit_seconds:.2f} s" if s.exit_seconds is not None else ""
    return f"{s.orphans} orphans{gone}"


def shutdown_rows(results: dict[str, dict[str, Shutdown]]) -> list[Row]:
    rows = []
    for mode, label in MODE_LABEL.items():
        cell = _kill_cell if mode == "SIGKILL" else _stop_cell
        cells = {n: cell(modes[mode]) for n, modes in results.items() if mode in modes}
        sup = results.get("supervise", {}).get(mode)
        if mode == "SIGKILL":  # no stop to watch: only what is left
            holds = None if sup is None else sup.orphans == 0
            target = "0 orphans within 2 s"
        else:
            holds = (
                None
                if sup is None
                else (sup.orphans == 0 and sup.exit_code == EXPECTED_CODE[mode] and sup.terms == 1)
            )
            target = f"exit {EXPECTED_CODE[mode]}, 0 orphans, 1 TERM"
        rows.append(Row("shutdown (tree + TERM trap)", label, cells, NA, target, holds))
    return rows


def reload_rows(results: dict[str, Reload]) -> list[Row]:
    run = results.get("supervise")
    if run is None:
        return []
    cell = f"{_num(run.median)} s" + (", address in use" if run.in_use else "")
    holds = None if run.median is None else run.median < 1.3 and not run.in_use
    figure = "file saved -> new server listening (1 s graceful stop, median)"
    return [Row("reload (cd . && python srv.py)", figure, {"supervise": cell}, NA, "< 1.3 s", holds)]


def hostile_rows(results: dict[str, Hostile], repeat: int) -> list[Row]:
    sup = results.get("supervise")
    scenario = "hostile input (issue 19)"
    size = next(iter(results.values())).line_bytes if results else 0

    def cell(value: float | None, digits: int, why: str) -> str:
        return _num(value, digits) if value is not None else f"{NA} ({why})" if why else NA

    return [
        Row(
            scenario,
            f"`check` of a {CHECK_LINES:,}-line Procfile, s (median of {repeat})",
            {n: cell(r.check_seconds, 2, r.why) for n, r in results.items()},
            _times(_ratio(sup.check_seconds if sup else None, _hostile(results, "check_seconds")), "honcho"),
            "≤ 2 s",
            _holds(sup.check_seconds, 2.0) if sup else None,
        ),
        Row(
            scenario,
            f"runner peak RSS while a child prints one {size / 1e6:.0f} MB line, MiB",
            {n: cell(r.peak_rss_mib, 0, r.why) for n, r in results.items()},
            _times(_ratio(sup.peak_rss_mib if sup else None, _hostile(results, "peak_rss_mib")), "honcho"),
            "< 150 MiB",
            None if sup is None or sup.peak_rss_mib is None else sup.peak_rss_mib < 150,
        ),
    ]


def reconfigure_rows(results: dict[str, Reconfigure]) -> list[Row]:
    sup, hon = results.get("supervise"), results.get("honcho")
    runs = next(iter(results.values())).runs if results else 0
    ratio = _ratio(sup.to_new_line if sup else None, hon.to_new_line if hon else None)
    scenario = f"reconfigure ({EDIT_COUNT} {X} sleep, 1 Procfile line edited)"
    others = EDIT_COUNT - 1
    return [
        Row(
            scenario,
            f"Procfile saved → the changed process's new line, s (median of {runs}; honcho: Ctrl-C + start)",
            {n: _num(r.to_new_line) for n, r in results.items()},
            _times(ratio, "honcho"),
            "≤ 0.5 s",
            _holds(sup.to_new_line, 0.5) if sup else None,
        ),
        Row(
            scenario,
            f"other processes left running (same pid), of {others}",
            {n: NA if r.untouched is None else str(r.untouched) for n, r in results.items()},
            NA,
            str(others),
            None if sup is None or sup.untouched is None else sup.untouched == others,
        ),
    ]


def _hostile(results: dict[str, Hostile], attr: str) -> float | None:
    honcho = results.get("honcho")
    value: float | None = getattr(honcho, attr) if honcho else None
    return value


def tty_rows(runs: dict[str, list[Run]]) -> list[Row]:
    """Throughput through ptys: supervise against the producers' own ptys read by the harness."""
    cells, slowdown = _against_direct(runs)
    checks, clean = _line_checks(runs)
    counts = ", ".join(f"{name} {len(rs)}" for name, rs in runs.items())
    cpu = {n: _num(_median([r.runner_cpu for r in rs])) for n, rs in runs.items() if n != "direct"}
    lines = max((r.check.received + r.check.lost for rs in runs.values() for r in rs), default=0)
    scenario = f"tty (4 {X} {lines // 4000}k lines, ptys)"
    return [
        Row(
            scenario,
            f"exec → last line, s (median of runs: {counts})",
            cells,
            _times(slowdown, "direct"),
            f"≤ 1.5{X} direct",
            _holds(slowdown, 1.5),
        ),
        Row(
            scenario,
            "first → last line, s",
            {n: _num(_median([r.first_to_last for r in rs])) for n, rs in runs.items()},
        ),
        Row(scenario, "runner CPU, s", cpu),
        Row(scenario, "lines lost / torn / reordered / duplicated", checks, NA, "0 lost, 0 torn", clean),
    ]


def attach_rows(results: dict[str, Latency]) -> list[Row]:
    """Keystroke -> echo in the attached terminal; `direct` is one pty straight to `cat`."""

    def cell(latency: Latency) -> str:
        if latency.median is None:
            return f"no echo (0 of {latency.sent})"
        lost = f", {latency.sent - len(latency.seconds)} lost" if len(latency.seconds) < latency.sent else ""
        return f"{_num(latency.median * 1000, 2)} (p95 {_num((latency.p95 or 0) * 1000, 2)}{lost})"

    sup = results.get("supervise")
    median = sup.median if sup else None
    return [
        Row(
            "attach (keystroke → echo)",
            f"round trip, ms (median of {sup.sent if sup else 0} keystrokes)",
            {n: cell(r) for n, r in results.items()},
            NA,
            "≤ 5 ms",
            None
            if median is None
            else median * 1000 <= 5.0 and len(sup.seconds) == sup.sent
            if sup
            else None,
        )
    ]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for text in f:
                if text.startswith("model name"):
                    return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def header(versions: dict[str, str], command: str) -> list[str]:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    machine = f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores"
    tools = ", ".join(f"{name} {version}" for name, version in versions.items())
    return [
        f"- date: {now}; machine: {machine}; load average at start: {load:.2f}",
        f"- Python {platform.python_version()}; {tools}",
        f"- command: `{command}`",
    ]


def render(rows: list[Row], head: list[str], notes: list[str]) -> str:
    """The Markdown: header lines, then one table; a cell of a runner that was not measured is —."""
    out = [*head, ""]
    out.append("| scenario | figure | direct | honcho | supervise | supervise ratio | target | holds |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        cells = [row.cells.get(name, NA) for name in RUNNERS]
        holds = NA if row.holds is None else ("yes" if row.holds else "**no**")
        out.append(
            f"| {row.scenario} | {row.figure} | {' | '.join(cells)} | {row.ratio} | {row.target} | {holds} |"
        )
    out.extend(f"\n{note}" for note in notes)
    return "\n".join(out) + "\n"
