"""`supervise init`: write `[tool.supervise]` into pyproject.toml, keeping the rest.

The new table is appended as text, so every byte before it stays as it was
(comments, spacing, key order, line endings). With `--force` an existing
table is first removed with tomlkit, which keeps everything else. The result
is parsed again and compared with the original before it is written, and
the file is replaced atomically, so a failure leaves it as it was.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supervise.config.load import parse_toml
from supervise.config.model import ProcessSpec
from supervise.config.source import read_source
from supervise.errors import ConfigError, OutputExistsError


def add_supervise_table(
    original: str, specs: list[ProcessSpec], source_name: str, display: str, force: bool
) -> str:
    """The file text with a `[tool.supervise]` table holding `specs`' commands."""
    data = parse_toml(original, display)
    tool = data.get("tool")
    if tool is not None and not isinstance(tool, dict):
        raise ConfigError("expected a table; init cannot add [tool.supervise]", file=display, key="tool")
    text = original
    if tool is not None and "supervise" in tool:
        if not force:
            raise OutputExistsError(f"{display}: [tool.supervise] already exists; use --force to replace it")
        text = _without_supervise_table(original)
    newline = "\r\n" if "\r\n" in original else "\n"
    block = render_table(specs, source_name).replace("\n", newline)
    if text and not text.endswith(("\n", "\r")):
        text += newline
    if text.strip() and not text.endswith(newline * 2):
        text += newline
    updated = text + block
    _check_result(data, updated, specs, display)
    return updated


def render_table(specs: list[ProcessSpec], source_name: str) -> str:
    """`[tool.supervise]` with one `processes.NAME` table per spec, as TOML text."""
    import tomlkit

    table = tomlkit.table()
    table.add(tomlkit.comment(f"Written by `supervise init` from {source_name}."))
    table.add(tomlkit.comment("Options per process: see the configuration reference in the README."))
    processes = tomlkit.table(is_super_table=True)
    for spec in specs:
        entry = tomlkit.table()
        entry.add("command", spec.command)
        processes.add(spec.name, entry)
    table.add("processes", processes)
    tool = tomlkit.table(is_super_table=True)
    tool.add("supervise", table)
    document = tomlkit.document()
    document.add("tool", tool)
    return tomlkit.dumps(document)


def _without_supervise_table(original: str) -> str:
    import tomlkit

    document = tomlkit.parse(original)
    tool: Any = document["tool"]
    del tool["supervise"]
    return tomlkit.dumps(document)


def _check_result(before: Mapping[str, Any], text: str, specs: list[ProcessSpec], display: str) -> None:
    """The new text must hold the old data plus exactly our table, or nothing is written."""
    try:
        after = parse_toml(text, display)
    except ConfigError:
        after = None
    if after is not None:
        expected = {spec.name: {"command": spec.command} for spec in specs}
        table = after.get("tool", {}).get("supervise", {})
        if table.get("processes") == expected and _outside_table(after) == _outside_table(before):
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
