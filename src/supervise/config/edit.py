"""`supervise init`: write `[tool.supervise]` into pyproject.toml, keeping the rest.

The new table is appended as text, so every byte before it stays as it was
(comments, spacing, key order, line endings). With `--force` an existing
table is first removed with tomlkit, which keeps everything else, and what
the Procfile cannot say (`ready`, `depends_on`, `watch`, groups, `port_base`
...) is carried over into the new table, as written. The result is parsed
again and compared with what was meant before it is written, and the file is
replaced atomically, so a failure leaves it as it was.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervise.config.load import parse_toml
from supervise.config.model import ProcessSpec
from supervise.config.source import read_source
from supervise.errors import ConfigError, OutputExistsError


@dataclass(frozen=True)
class Conversion:
    """The new file text, and what `--force` carried over from the old table or left out."""

    text: str
    kept: tuple[str, ...] = ()
    """`port_base`, `groups`, `web: ready, depends_on`: options the Procfile cannot say."""
    dropped: tuple[str, ...] = ()
    """Processes of the old table that the Procfile does not have, and references to them."""


def add_supervise_table(
    original: str, specs: list[ProcessSpec], source_name: str, display: str, force: bool
) -> Conversion:
    """The file text with a `[tool.supervise]` table holding `specs`' commands.

    With `force`, an existing table is replaced, keeping its options for the
    processes the Procfile still has and its project-wide keys.
    """
    data = parse_toml(original, display)
    tool = data.get("tool")
    if tool is not None and not isinstance(tool, dict):
        raise ConfigError("expected a table; init cannot add [tool.supervise]", file=display, key="tool")
    text = original
    old: Any = None
    if tool is not None and "supervise" in tool:
        if not force:
            raise OutputExistsError(f"{display}: [tool.supervise] already exists; use --force to replace it")
        text, old = _without_supervise_table(original)
    newline = "\r\n" if "\r\n" in original else "\n"
    table, kept, dropped = build_table(specs, source_name, old)
    block = _dump_tool_table(table).replace("\n", newline)
    if text and not text.endswith(("\n", "\r")):
        text += newline
    if text.strip() and not text.endswith(newline * 2):
        text += newline
    updated = text + block
    _check_result(data, updated, table.unwrap(), display)
    return Conversion(updated, tuple(kept), tuple(dropped))


def render_table(specs: list[ProcessSpec], source_name: str) -> str:
    """`[tool.supervise]` with one `processes.NAME` table per spec, as TOML text."""
    return _dump_tool_table(build_table(specs, source_name, None)[0])


NOT_CARRIED = ("procfile", "processes")
"""Old top-level keys that the new table replaces: the commands now live in it."""


def build_table(specs: list[ProcessSpec], source_name: str, old: Any) -> tuple[Any, list[str], list[str]]:
    """(the tomlkit table, what was kept from `old`, what was dropped) for `specs`.

    `old` is the replaced `[tool.supervise]` as tomlkit items (None: nothing to
    keep); its items are reused, so their comments and inline tables stay.
    """
    import tomlkit

    old = old if old is not None else {}
    names = {spec.name for spec in specs}
    old_processes = old.get("processes", {})
    dropped = [f"{name} (not in {source_name})" for name in old_processes if name not in names]
    kept: list[str] = []
    table = tomlkit.table()
    table.add(tomlkit.comment(f"Written by `supervise init` from {source_name}."))
    table.add(tomlkit.comment("Options per process: see the configuration reference in the README."))
    top = [(k, v) for k, v in old.items() if k not in NOT_CARRIED]
    if "procfile" in old:
        dropped.append("procfile (the commands are now in [tool.supervise.processes])")
    for key, value in top:
        if not isinstance(value, dict):
            table.add(key, value)
            kept.append(key)
    processes = tomlkit.table(is_super_table=True)
    for spec in specs:
        entry = tomlkit.table()
        entry.add("command", spec.command)
        options = [(k, v) for k, v in old_processes.get(spec.name, {}).items() if k != "command"]
        for key, value in options:
            entry.add(
                key,
                _without_dropped(value, names, dropped, f"{spec.name}.{key}")
                if key == "depends_on"
                else value,
            )
        if options:
            kept.append(f"{spec.name}: {', '.join(k for k, _ in options)}")
        processes.add(spec.name, entry)
    table.add("processes", processes)
    for key, value in top:
        if isinstance(value, dict):
            if key == "groups":
                value = {g: _without_dropped(m, names, dropped, f"groups.{g}") for g, m in value.items()}
            table.add(key, value)
            kept.append(key)
    return table, kept, dropped


def _without_dropped(value: Any, names: set[str], dropped: list[str], where: str) -> Any:
    """A list of process names without the ones the new table no longer has (said in `dropped`)."""
    if not isinstance(value, list) or all(item in names for item in value):
        return value
    gone = [item for item in value if item not in names]
    dropped.append(f"{', '.join(map(str, gone))} from {where}")
    return [item for item in value if item in names]


def _dump_tool_table(table: Any) -> str:
    import tomlkit

    tool = tomlkit.table(is_super_table=True)
    tool.add("supervise", table)
    document = tomlkit.document()
    document.add("tool", tool)
    return tomlkit.dumps(document)


def _without_supervise_table(original: str) -> tuple[str, Any]:
    """The text without `[tool.supervise]`, and that table as tomlkit items."""
    import tomlkit

    document = tomlkit.parse(original)
    tool: Any = document["tool"]
    old = tool["supervise"]
    del tool["supervise"]
    return tomlkit.dumps(document), old


def _check_result(before: Mapping[str, Any], text: str, table: Mapping[str, Any], display: str) -> None:
    """The new text must hold the old data plus exactly our table, or nothing is written."""
    try:
        after = parse_toml(text, display)
    except ConfigError:
        after = None
    if after is not None:
        written = after.get("tool", {}).get("supervise", {})
        if written == table and _outside_table(after) == _outside_table(before):
            return
    inline = re.search(r"(?m)^\s*tool\s*=", text)
    hint = "`tool` is an inline table; make it a [tool] section" if inline else "add it by hand"
    raise ConfigError(f"cannot add [tool.supervise] without changing the rest; {hint}", file=display)


def _outside_table(data: Mapping[str, Any]) -> dict[str, Any]:
    """The document's data without `tool.supervise` (and without a `tool` left empty)."""
    rest = {key: value for key, value in data.items() if key != "tool"}
    tool = {key: value for key, value in data.get("tool", {}).items() if key != "supervise"}
    return {**rest, "tool": tool} if tool else rest


def _read_text(path: Path, display: str) -> str:
    """The file's text with its line endings as they are; empty when there is no file yet."""
    if not os.path.lexists(path):
        return ""
    return read_source(path, display)  # not a regular file, or over 10 MiB: one line, never a hang


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename, keeping its permissions."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
