"""Benchmarks: supervise side by side with honcho (and a `direct` floor), one command, one table.

    python bench/run.py                    # everything; writes bench/results/latest.md too
    python bench/run.py --only startup,idle --repeat 3

honcho is installed from PyPI into bench/.venv-honcho on first use. Every
process the harness starts is stopped and reaped, whatever happens; leftovers
are reported first. Speed is measured here, never asserted in a test.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import hostile
import idle
import procs
import project
import reconfigure
import reload
import report
import rings
import runners
import scale
import shutdown
import startup
import terminals
import throughput
import webpage

BENCH = Path(__file__).resolve().parent
SCENARIOS = (
    "throughput",
    "logfiles",
    "startup",
    "idle",
    "scale",
    "rings",
    "shutdown",
    "reload",
    "hostile",
    "tty",
    "attach",
    "reconfigure",
    "web",
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help="comma-separated scenarios (default: all)"
    )
    parser.add_argument("--runners", default="honcho,supervise", help="runners besides direct")
    parser.add_argument("--lines", type=int, default=throughput.LINES, help="lines per producer")
    parser.add_argument("--runs", type=int, default=3, help="throughput runs for direct and supervise")
    parser.add_argument("--honcho-runs", type=int, default=1, help="throughput runs for honcho (it is slow)")
    parser.add_argument("--repeat", type=int, default=7, help="startup runs per runner (medians)")
    parser.add_argument("--window", type=float, default=idle.WINDOW, help="idle sampling window, s")
    parser.add_argument("--scale", type=int, default=scale.COUNT, help="processes in the scale scenario")
    parser.add_argument("--check-runs", type=int, default=3, help="runs of check on 10,000 lines (median)")
    parser.add_argument(
        "--line-bytes", type=int, default=hostile.LINE_BYTES, help="size of the long line (hostile)"
    )
    parser.add_argument("--edits", type=int, default=5, help="Procfile edits per runner in reconfigure")
    parser.add_argument(
        "--rings", type=int, default=rings.COUNT, help="chatty processes in the rings scenario"
    )
    parser.add_argument(
        "--output", default=str(BENCH / "results" / "latest.md"), help="also write the table here"
    )
    parser.add_argument("--no-output", action="store_true", help="print the table only")
    parser.add_argument(
        "--update-readme", action="store_true", help="also put the table into README.md's Benchmarks section"
    )
    parser.add_argument(
        "--project-env",
        action="store_true",
        help="run the supervise on PATH instead of bench/.venv-supervise's install",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes for a smoke run (figures not comparable to targets)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        (
            args.lines,
            args.runs,
            args.honcho_runs,
            args.repeat,
            args.window,
            args.scale,
            args.rings,
            args.edits,
        ) = (
            20_000,
            1,
            1,
            3,
            3.0,
            50,
            50,
            1,
        )
        args.check_runs, args.line_bytes = 1, 20_000_000
    return args


def pick_runners(names: list[str], project_env: bool) -> list[runners.Runner]:
    picked = []
    for name in names:
        runner = (
            runners.honcho() if name == "honcho" else runners.supervise() if name == "supervise" else None
        )
        if runner is None:
            raise SystemExit(f"unknown runner {name!r} (honcho, supervise)")
        if not runner.available:
            log(f"{name} left out: {runner.why_not}")
        picked.append(runner)
    return picked


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def run_throughput(results: report.Results, active: list[runners.Runner], args: argparse.Namespace) -> None:
    results.throughput["direct"] = []
    for runner in active:
        results.throughput[runner.name] = []
    turns = max(args.runs, args.honcho_runs)
    for turn in range(turns):  # runners take turns, so that noise hits all alike
        if turn < args.runs:
            log(f"throughput: direct, run {turn + 1}")
            results.throughput["direct"].append(throughput.run_direct(args.lines))
        for runner in active:
            if turn < (args.honcho_runs if runner.name == "honcho" else args.runs):
                log(f"throughput: {runner.name}, run {turn + 1}")
                run = throughput.run_runner(runner, args.lines)
                check = run.check
                log(f"  {_num(run.to_last)} s to the last line; {check.received} lines, {check.lost} lost")
                if not check.received:
                    what = f"{runner.name} delivered no line (exit code {run.exit_code})"
                    results.notes.append(f"throughput run {turn + 1}: {what}.")
                if check.lost or check.torn:
                    log(
                        "  its own lines: "
                        + " / ".join(line.decode(errors="replace") for line in check.system[-12:])
                    )
                results.throughput[runner.name].append(run)


def run_tty(results: report.Results, active: list[runners.Runner], args: argparse.Namespace) -> None:
    """Producers on ptys: straight to the harness, then under `supervise up --tty`, taking turns."""
    sup = [r for r in active if r.name == "supervise"]
    results.tty = {"direct": [], **{r.name: [] for r in sup}}
    for turn in range(args.runs):
        log(f"tty: direct ptys, run {turn + 1}")
        results.tty["direct"].append(terminals.run_direct(args.lines))
        for runner in sup:
            log(f"tty: supervise up --tty, run {turn + 1}")
            run = terminals.run_supervise(runner, args.lines)
            log(
                f"  {_num(run.to_last)} s to the last line; {run.check.received} lines, {run.check.lost} lost"
            )
            results.tty["supervise"].append(run)


def run_logfiles(results: report.Results, active: list[runners.Runner], args: argparse.Namespace) -> None:
    """Throughput again, supervise writing every line to --log-dir files too, against `direct`."""
    sup = next((r for r in active if r.name == "supervise"), None)
    if sup is None:
        return
    for turn in range(args.runs):
        log(f"logfiles: direct, run {turn + 1}")
        results.logfiles.setdefault("direct", []).append(throughput.run_direct(args.lines))
        log(f"logfiles: supervise --log-dir, run {turn + 1}")
        run = throughput.run_runner(sup, args.lines, log_dir=True)
        log(f"  {_num(run.to_last)} s to the last line; {run.check.lost} lost, {run.file_lost} lost in files")
        results.logfiles.setdefault("supervise", []).append(run)


def run_web(results: report.Results, active: list[runners.Runner], args: argparse.Namespace) -> None:
    """The page open in headless Chromium: throughput (turns with `direct`), then idle; or why not."""
    sup = next((r for r in active if r.name == "supervise"), None)
    if sup is None:
        return
    why = webpage.why_not()
    try:
        for turn in range(args.runs if why is None else 0):
            log(f"web: direct, run {turn + 1}")
            results.web.throughput.setdefault("direct", []).append(throughput.run_direct(args.lines))
            log(f"web: supervise --web, the page following the merged log, run {turn + 1}")
            page = webpage.throughput_with_page(sup, args.lines)
            run = page.run
            log(
                f"  {_num(run.to_last)} s to the last line; {run.check.lost} lost;"
                f" runner CPU {_num(run.runner_cpu)} s, browser CPU {_num(page.browser_cpu)} s"
            )
            results.web.throughput.setdefault("supervise", []).append(run)
            results.web.browser_cpu.append(page.browser_cpu)
            results.web.caught_up.append(page.page_caught_up)
        if why is None:
            log(f"web: supervise --web, idle with the page open, {args.window:.0f} s window")
            results.web.idle["supervise"] = webpage.idle_with_page(sup, args.window)
    except webpage.NotRun as error:
        why = str(error)
    if why is not None:
        log(f"web: not run ({why})")
        results.web.why_not = why


def run_all(args: argparse.Namespace, active: list[runners.Runner]) -> report.Results:
    results = report.Results()
    only = set(args.only.split(","))

    def starts(scenario: str) -> bool:
        """Whether `scenario` runs; if so, what the previous one wrote is on disk first.

        The kernel's writeback of the log files and long lines of one scenario
        would otherwise compete with the next for the CPU (ptys are served by the
        same kernel workers).
        """
        if scenario not in only:
            return False
        os.sync()
        return True

    if starts("throughput"):
        run_throughput(results, active, args)
    if starts("logfiles"):
        run_logfiles(results, active, args)
    if starts("startup"):
        log(f"startup: {args.repeat} runs each")
        results.startup = startup.measure(active, args.repeat)
    if starts("idle"):
        for runner in active:
            log(f"idle: {runner.name}, {args.window:.0f} s window")
            results.idle[runner.name] = idle.measure_runner(runner, args.window)
    if starts("scale"):
        log(f"scale: direct, {args.scale} processes")
        results.scale["direct"] = scale.measure_direct(args.scale)
        for runner in active:
            log(f"scale: {runner.name}, {args.scale} processes")
            results.scale[runner.name] = scale.measure_runner(runner, args.scale)
    if starts("rings"):
        for runner in active:
            if runner.name == "supervise":
                log(f"rings: {runner.name}, {args.rings} chatty processes")
                results.rings[runner.name] = rings.measure_runner(runner, args.rings)
    if starts("shutdown"):
        for runner in active:
            results.shutdown[runner.name] = {}
            for mode in shutdown.MODES:
                log(f"shutdown: {runner.name}, {mode}")
                results.shutdown[runner.name][mode] = shutdown.measure_runner(runner, mode)
    if starts("tty"):
        run_tty(results, active, args)
    if starts("attach"):
        log(f"attach: {terminals.KEYSTROKES} keystrokes, direct")
        results.attach["direct"] = terminals.attach_direct()
        for runner in active:
            if runner.name == "supervise":
                log(f"attach: {terminals.KEYSTROKES} keystrokes through supervise attach")
                results.attach["supervise"] = terminals.attach_supervise(runner)
    if starts("reload"):
        for runner in active:
            if runner.name == "supervise":  # honcho has no file watching
                log("reload: supervise, a server with a 1 s graceful shutdown")
                results.reload[runner.name] = reload.measure(runner)
    if starts("hostile"):
        for runner in active:
            log(f"hostile: {runner.name}, check of {hostile.CHECK_LINES:,} lines and one long line")
            results.hostile[runner.name] = hostile.measure_runner(runner, args.check_runs, args.line_bytes)
    if starts("reconfigure"):
        for runner in active:
            log(f"reconfigure: {runner.name}, {args.edits} Procfile edits")
            results.reconfigure[runner.name] = reconfigure.measure_runner(runner, args.edits)
    if starts("web"):
        run_web(results, active, args)
    return results


def rows(results: report.Results, args: argparse.Namespace) -> list[report.Row]:
    out: list[report.Row] = []
    if results.throughput:
        out += report.throughput_rows(results.throughput)
    if results.logfiles:
        out += report.logfiles_rows(results.logfiles)
    if results.web.ran:
        out += report.web_throughput_rows(results.web)
    if results.startup:
        out += report.startup_rows(results.startup, args.repeat)
    if results.idle:
        out += report.idle_rows(results.idle)
    if results.web.ran:
        out += report.web_idle_rows(results.web)
    if results.scale:
        out += report.scale_rows(results.scale, args.scale)
    if results.rings:
        out += report.rings_rows(results.rings, args.rings)
    if results.shutdown:
        out += report.shutdown_rows(results.shutdown)
    if results.reload:
        out += report.reload_rows(results.reload)
    if results.hostile:
        out += report.hostile_rows(results.hostile, args.check_runs)
    if results.tty:
        out += report.tty_rows(results.tty)
    if results.attach:
        out += report.attach_rows(results.attach)
    if results.reconfigure:
        out += report.reconfigure_rows(results.reconfigure)
    return out


README_START = "<!-- bench results: start -->"
README_END = "<!-- bench results: end -->"


def update_readme(path: Path, table: str) -> None:
    """Replace what stands between the two markers in the README with `table`."""
    text = path.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise SystemExit(f"{path}: no {README_START} ... {README_END} block to update")
    path.write_text(text[: start + len(README_START)] + "\n" + table + text[end:])


def main(argv: list[str]) -> int:
    args = parse(argv)
    unknown = set(args.only.split(",")) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(sorted(unknown))} ({', '.join(SCENARIOS)})")
    if not procs.become_subreaper():
        log("not a subreaper (not Linux?): orphans of a runner may escape the clean-up")
    picked = pick_runners(args.runners.split(","), args.project_env)
    active = [r for r in picked if r.available]
    command = shlex.join(["python", "bench/run.py", *argv])
    try:
        results = run_all(args, active)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        left = procs.reap_orphans()
        if left:
            log(f"killed {len(left)} leftover processes: {[p.comm for p in left]}")
    notes = [f"{r.name}: not measured ({r.why_not})." for r in picked if not r.available]
    if args.quick:
        notes.append("Quick run (--quick): sizes reduced, figures not comparable with the targets.")
    notes += [*results.notes, *dict.fromkeys(project.COMPLAINTS), report.LEGEND]
    head = report.header({r.name: r.version.removeprefix(f"{r.name} ") for r in picked}, command)
    table = report.render(rows(results, args), head, notes)
    print(table)
    if args.update_readme:
        update_readme(BENCH.parent / "README.md", table)
        log("README.md updated")
    if not args.no_output:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(table)
        log(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
