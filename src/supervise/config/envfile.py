"""Env files, read with python-dotenv's own parser (imported here only).

We use python-dotenv's grammar (quotes, `export`, comments, multi-line
values) but resolve `${VAR}` ourselves for two reasons the contract gives:
single-quoted values stay literal (python-dotenv expands them too), and a
later file can use what an earlier one set, as if they were loaded in turn.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from supervise.config.source import read_source
from supervise.errors import ConfigError

if TYPE_CHECKING:
    from dotenv.parser import Original

SINGLE_QUOTED = re.compile(r"\s*(?:export[^\S\r\n]+)?(?:'[^']+'|[^=#\s]+)[^\S\r\n]*=[^\S\r\n]*'")
"""A binding whose value starts with `'`: python-dotenv's own key and `=` rules."""


def read_env_file(path: Path, display: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Values of one env file, `${VAR}` expanded from `environ` and earlier lines.

    `environ` defaults to the real environment, as python-dotenv's is. A line
    python-dotenv cannot parse is an error naming `display:line`, where
    python-dotenv alone would only log a warning and drop it. A key given with
    no `=` (declared, not set) is left out, as `load_dotenv` does.
    """
    from dotenv.parser import parse_stream
    from dotenv.variables import parse_variables

    text = read_source(path, display)
    scope: dict[str, str] = dict(os.environ if environ is None else environ)
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text.removeprefix("\ufeff"))):
        original = binding.original.string
        if binding.error:
            shown = original.strip().splitlines()[0][:60] if original.strip() else ""
            message = f'cannot parse "{shown}" (expected KEY=value)'
            raise ConfigError(message, file=display, line=_line_of(binding.original))
        if binding.key is None or binding.value is None:
            continue
        value = binding.value
        if not SINGLE_QUOTED.match(binding.original.string):
            value = "".join(atom.resolve(scope) for atom in parse_variables(value))
        if "\0" in binding.key + value:
            message = f'"{binding.key}": the environment cannot hold a NUL character'
            raise ConfigError(message, file=display, line=_line_of(binding.original))
        values[binding.key] = scope[binding.key] = value
    return values


def _line_of(original: Original) -> int:
    """The line a binding starts on: python-dotenv counts from the blank lines before it."""
    text = original.string
    blank = text[: len(text) - len(text.lstrip())]
    return original.line + len(re.findall(r"\r\n|\r|\n", blank))


def read_env_files(paths: list[tuple[Path, str]], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Several env files merged in order; later files win and see earlier values."""
    base = dict(os.environ if environ is None else environ)
    merged: dict[str, str] = {}
    for path, display in paths:
        merged.update(read_env_file(path, display, {**base, **merged}))
    return merged
