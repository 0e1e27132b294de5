"""What `supervise up` does with its children's output (DESIGN.md `runtime/output/`).

    format.py    how a line looks: the `HH:MM:SS web.1 | ` prefix, colors, JSON lines
    printer.py   bytes -> whole lines, fanned out to the view, the ring and the log files
    ring.py      the recent output of every instance, for `supervise logs`
    logfile.py   `--log-dir`: raw output in files that rotate as supervisord's

The names below are the package's public face; import them from here.
"""

from supervise.runtime.output.format import (
    PALETTE,
    RESET,
    SYSTEM,
    SYSTEM_STYLE,
    process_type,
    use_color,
)
from supervise.runtime.output.printer import LINE_LIMIT, Printer, Writer

__all__ = [
    "LINE_LIMIT",
    "PALETTE",
    "RESET",
    "SYSTEM",
    "SYSTEM_STYLE",
    "Printer",
    "Writer",
    "process_type",
    "use_color",
]
