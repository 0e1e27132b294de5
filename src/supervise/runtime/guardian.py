"""The guardian: nothing `supervise up` started outlives it, even when it is SIGKILLed.

`up` forks once, before typer and asyncio are imported (a fork shares the
pages already loaded: no exec, no second start-up, little memory):

- The parent keeps the pid the user started and becomes the guardian. It is
  a child subreaper (an orphan anywhere below it becomes its child), passes
  every signal meant for `up` on to the supervisor, and once the supervisor
  has ended, however it ended, kills whatever is left below it and exits
  with the supervisor's exit code.
- The child runs the supervisor, in a process group of its own, so the
  terminal's Ctrl-C (sent to the foreground group) reaches it once, through
  the guardian, never twice. Its parent-death signal (PR_SET_PDEATHSIG) tells
  it when the guardian dies: it then SIGKILLs every process below it and exits.

Whichever of the two is killed, the other kills everything. Every process the
run starts also carries SUPERVISE_RUN_ID in its environment, a second net: a
process that left the tree anyway is found by it in /proc/*/environ.

Linux only. macOS has neither a subreaper nor a parent-death signal: there
`protect` only sets the token, and `up` stays one process, as before.

The guardian lives on what was imported before the fork, and keeps all of
it: this module imports little (typing alone would cost it 0.8 MB).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see above)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import NoReturn

RUN_ID = "SUPERVISE_RUN_ID"
"""The environment variable that marks every process of a run."""

SWEEP_TIMEOUT = 1.5
"""Seconds a sweep keeps killing; what is alive after that is stuck in the kernel (D state)."""

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

FORWARDED = frozenset(
    {
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGWINCH,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGCONT,
    }
)
"""Signals for `up` that are the supervisor's business: passed on as they are."""

WAITED = FORWARDED | {signal.SIGCHLD, signal.SIGTSTP}

_token: str | None = None
_up_pid: int | None = None


def up_pid() -> int:
    """The pid the user started and signals: the guardian's, or ours when there is none."""
    return _up_pid if _up_pid is not None else os.getpid()


def protect() -> None:
    """Fork the guardian (Linux), once; returns in the supervisor, never in the guardian.

    Call it before the plan reads the environment: the run's token goes into
    os.environ, so every process the run starts, by whatever path, inherits it.
    """
    global _token, _up_pid
    if _token is not None:
        return  # already done, earlier in this process
    _token = f"{os.getpid()}-{os.urandom(8).hex()}"
    os.environ[RUN_ID] = _token
    if not sys.platform.startswith("linux") or not _prctl(PR_SET_CHILD_SUBREAPER, 1):
        return
    guardian = os.getpid()
    for stream in (sys.stdout, sys.stderr):  # or both processes would write what is buffered
        with contextlib.suppress(AttributeError, OSError, ValueError):  # (None: the fd was closed)
            stream.flush()
    # Blocked before the fork: no signal for the supervisor is lost before either side listens.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)
    gc.freeze()  # or the collector, on either side, would write to (and copy) every shared page
    child = os.fork()
    if child == 0:
        _become_supervisor(guardian, _token, mask)
        _up_pid = guardian
        return
    with contextlib.suppress(OSError):  # (it has already exited: the loop collects it)
        os.setpgid(child, child)  # both sides set it, so neither has to wait for the other
    _guard(child, _token)


# -- the supervisor's side --------------------------------------------------------


def _become_supervisor(guardian: int, token: str, mask: Iterable[int]) -> None:
    """Own process group; a parent-death signal that makes it kill everything and exit."""
    with contextlib.suppress(OSError):  # (the guardian did it first)
        os.setpgid(0, 0)
    orphaned = int(signal.SIGRTMIN) + 3  # nobody else sends it: its arrival means one thing
    signal.signal(orphaned, lambda signum, frame: _guardian_lost(guardian, token))
    _prctl(PR_SET_PDEATHSIG, orphaned)
    if os.getppid() != guardian:  # it died before the signal was armed
        _guardian_lost(guardian, token)
    for signum in (signal.SIGUSR1, signal.SIGUSR2):
        # Passed on by the guardian, and nothing of ours uses them yet: they must not kill us.
        # A handler, not SIG_IGN, which the processes we start would inherit.
        signal.signal(signum, _unused)
    _keep_terminal_writable()
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _unused(signum: int, frame: object) -> None:
    pass


def _guardian_lost(guardian: int, token: str) -> NoReturn:
    """The guardian is gone (SIGKILL, the OOM killer): kill everything below us, now, and exit."""
    killed = sweep(os.getpid(), token)
    _say(f"up (pid {guardian}) was killed; killed the {killed} process(es) it had started")
    os._exit(128 + signal.SIGKILL)


def _keep_terminal_writable() -> None:
    """In a background process group, a write to a terminal set to `stty tostop` stops us
    with SIGTTOU, unless SIGTTOU is ignored (the kernel's rule): then it goes through, as
    from the foreground. Only then, so nothing else changes for the processes we start."""
    ttys = [fd for fd in (1, 2) if os.isatty(fd)]
    if not ttys:
        return
    import termios

    for fd in ttys:
        try:
            tostop = termios.tcgetattr(fd)[3] & termios.TOSTOP
        except termios.error:
            continue
        if tostop:
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            return


# -- the guardian's side ----------------------------------------------------------


def _guard(child: int, token: str) -> NoReturn:
    """Pass signals on to the supervisor until it ends; sweep; exit with its code."""
    while True:
        signum = signal.sigwaitinfo(WAITED).si_signo
        if signum == signal.SIGCHLD:
            status = _reap(child)
            if status is not None:
                break
        elif signum == signal.SIGTSTP:  # Ctrl-Z: the supervisor stops with us; SIGCONT resumes both
            _kill(child, signal.SIGTSTP)
            os.kill(os.getpid(), signal.SIGSTOP)
        else:
            _kill(child, signum)
    killed = sweep(os.getpid(), token) if _has_children() else 0
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # killed (SIGKILL, the OOM killer): say so, or nobody would know
        name = _signal_name(-code)
        _say(f"the supervisor (pid {child}) was killed by {name}; killed the {killed} process(es) it started")
        code = 128 - code
    elif killed:  # a clean exit should leave nothing: say so, it is a bug to report
        _say(f"killed {killed} process(es) that outlived the supervisor")
    os._exit(code)


def _reap(child: int) -> int | None:
    """Collect every exited child; the supervisor's wait status once it has exited."""
    found = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if pid == 0:
            return found
        if pid == child:
            found = status


def _has_children() -> bool:
    """Is anything left below us? Whatever outlived the supervisor is our child (we are its
    subreaper), so a clean exit costs no scan of /proc (10 ms here)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        return False
    return True


# -- both sides -------------------------------------------------------------------


def sweep(root: int, token: str, timeout: float = SWEEP_TIMEOUT) -> int:
    """SIGKILL every process below `root`, and every one carrying `token`, until none is left
    (a death re-parents its children to us, the subreaper: the next pass finds them).
    How many processes were killed."""
    from supervise.runtime import proctree

    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        while True:
            table = proctree.process_table()
            alive = proctree.descendants(table, root) | (carriers(token, table) - {root})
            _reap_all()
            if not alive or time.monotonic() > deadline:
                return len(killed)
            for pid in alive:
                _kill(pid, signal.SIGKILL)
            killed |= alive
            signal.sigtimedwait({signal.SIGCHLD}, 0.02)  # a death, or a moment for the kernel
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def carriers(token: str, table: Iterable[int]) -> set[int]:
    """The processes of `table` whose environment holds the run's token."""
    needle = f"\0{RUN_ID}={token}\0".encode()
    found = set()
    for pid in table:
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue  # gone, or not ours to read
        if needle in b"\0" + environ:
            found.add(pid)
    return found


def _reap_all() -> None:
    """Collect our exited children (killed orphans): a zombie is gone but holds its pid."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.kill(pid, signum)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _prctl(option: int, value: int) -> bool:
    import ctypes

    try:
        return int(ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # no stderr left (the terminal is gone)
        os.write(2, f"supervise: {message}\n".encode())
