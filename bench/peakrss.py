"""Run a command; write its peak RSS (KiB, as wait4 reports it) to a file; exit with its code.

A child's `ru_maxrss` counts the memory of the process that forked it: the
kernel records the old address space's high-water mark at exec. Launched
straight from the harness, which holds hundreds of MiB after the throughput
scenarios, a runner's figure would be at least that much. This launcher runs
as `python -S` (about 8 MiB), the most it can add.

    python -S peakrss.py OUT_FILE COMMAND [ARG ...]
"""

import os
import signal
import sys

pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
for signum in (signal.SIGINT, signal.SIGTERM):  # the harness's own signals are for the command
    signal.signal(signum, signal.SIG_IGN)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{usage.ru_maxrss}\n")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
