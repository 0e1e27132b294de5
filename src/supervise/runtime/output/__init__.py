"""What `supervise up` does with its children's output (DESIGN.md `runtime/output/`).

    printer.py   bytes -> whole, prefixed lines on the terminal, one write per wakeup

The names below are the package's public face; import them from here.
"""

from supervise.runtime.output.printer import (
    LINE_LIMIT,
    PALETTE,
    RESET,
    SYSTEM,
    SYSTEM_STYLE,
    Printer,
    Writer,
    process_type,
    use_color,
)

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
