"""`supervise up`: turn the options into a Plan and run it in the foreground."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from supervise.commands.options import CommonOptions
from supervise.errors import UsageError
from supervise.runtime.output import use_color
from supervise.runtime.supervisor import Supervisor, UpOptions


def run_up(options: CommonOptions, names: Sequence[str], up: UpOptions) -> int:
    """`supervise up`: run the plan in the foreground; the process's exit code."""
    plan = options.load_plan(names)
    if not plan.instances:
        raise UsageError("nothing to run: every selected process has 0 instances or autostart = false")
    color = use_color(isatty=os.isatty(1), environ=os.environ, no_color_flag=options.no_color)
    if color and sys.platform == "win32":  # elsewhere terminals read ANSI codes as they are
        import colorama

        colorama.just_fix_windows_console()
    return asyncio.run(Supervisor(plan, up, color=color).run())
