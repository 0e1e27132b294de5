"""`supervise init`: write `[tool.supervise]` into pyproject.toml, keeping the rest.

tomlkit keeps every byte outside the table it touches (comments, spacing,
key order). The file is replaced atomically, so a failure leaves it as it was.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from supervise.config.load import display_path, find_root
from supervise.config.model import ProcessSpec
from supervise.config.procfile import parse_procfile
from supervise.errors import ConfigError, OutputExistsError, UsageError
from supervise.options import CommonOptions


def run_init(options: CommonOptions, force: bool) -> int:
    """Convert the Procfile into `[tool.supervise]` in the root's pyproject.toml."""
    root = find_root(options.procfile, options.root, Path.cwd())
    procfile = Path(options.procfile).resolve() if options.procfile else root / "Procfile"
    shown = display_path(procfile)
    try:
        text = procfile.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{shown}: no such file; init converts a Procfile (use -f PATH)") from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", file=shown) from None
    specs = parse_procfile(text, shown)
    if not specs:
        raise ConfigError("defines no processes", file=shown)
    pyproject = root / "pyproject.toml"
    original = pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""
    updated = add_supervise_table(original, specs, procfile.name, display_path(pyproject), force)
    write_atomically(pyproject, updated)
    action = "wrote" if original else "created"
    print(
        f"{action} [tool.supervise] with {len(specs)} process(es) in {display_path(pyproject)}",
        file=sys.stderr,
    )
    return 0


def add_supervise_table(
    original: str, specs: list[ProcessSpec], source_name: str, display: str, force: bool
) -> str:
    """The file text with a `[tool.supervise]` table holding `specs`' commands."""
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        document = tomlkit.parse(original)
    except ParseError as error:
        raise ConfigError(f"invalid TOML: {error}", file=display, line=error.line) from None
    tool: Any = document.get("tool")
    if tool is not None and "supervise" in tool and not force:
        raise OutputExistsError(f"{display}: [tool.supervise] already exists; use --force to replace it")
    table = tomlkit.table()
    table.add(tomlkit.comment(f"Written by `supervise init` from {source_name}."))
    table.add(tomlkit.comment("Options per process: see the configuration reference in the README."))
    processes = tomlkit.table(is_super_table=True)
    for spec in specs:
        entry = tomlkit.table()
        entry.add("command", spec.command)
        processes.add(spec.name, entry)
    table.add("processes", processes)
    if tool is None:
        tool = tomlkit.table(is_super_table=True)
        if original and not original.endswith("\n\n"):
            document.add(tomlkit.nl())
        document.add("tool", tool)
    tool["supervise"] = table
    return tomlkit.dumps(document)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename, keeping its permissions."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
