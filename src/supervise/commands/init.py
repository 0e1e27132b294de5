"""`supervise init`: convert the Procfile into `[tool.supervise]` in pyproject.toml."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from supervise.commands.options import CommonOptions
from supervise.config.edit import _read_text, add_supervise_table, write_atomically
from supervise.config.load import display_path, find_root, read_procfile, resolve
from supervise.errors import ConfigError, UsageError


def run_init(options: CommonOptions, force: bool) -> int:
    """Convert the Procfile into `[tool.supervise]` in the root's pyproject.toml."""
    root = find_root(options.procfile, options.root, Path.cwd())
    procfile = resolve(Path(options.procfile)) if options.procfile else root / "Procfile"
    shown = display_path(procfile)
    if not os.path.lexists(procfile):
        raise UsageError(f"{shown}: no such file; init converts a Procfile (use -f PATH)")
    specs = read_procfile(procfile, shown)
    if not specs:
        raise ConfigError("defines no processes; nothing to convert", file=shown)
    pyproject = root / "pyproject.toml"
    display = display_path(pyproject)
    existed = pyproject.exists()
    original = _read_text(pyproject, display)
    conversion = add_supervise_table(original, specs, procfile.name, display, force)
    try:
        write_atomically(pyproject, conversion.text)
    except OSError as error:
        raise UsageError(f"{display}: cannot write: {error.strerror}") from None
    action = "wrote" if existed else "created"
    print(
        f"{action} [tool.supervise] with {len(specs)} process(es) in {display}; "
        f"supervise now reads it instead of {procfile.name}",
        file=sys.stderr,
    )
    if conversion.kept:
        print(f"kept from the old [tool.supervise]: {'; '.join(conversion.kept)}", file=sys.stderr)
    if conversion.dropped:
        print(f"dropped from the old [tool.supervise]: {'; '.join(conversion.dropped)}", file=sys.stderr)
    return 0
