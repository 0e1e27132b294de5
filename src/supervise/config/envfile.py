"""Env files, read with python-dotenv's own parser (imported here only)."""

from __future__ import annotations

import io
from pathlib import Path

from supervise.errors import ConfigError


def read_env_file(path: Path, display: str) -> dict[str, str]:
    """Values of one env file, `${VAR}` expanded as python-dotenv does.

    A line python-dotenv cannot parse is an error naming `display:line`, where
    python-dotenv alone would only log a warning and drop it. A key given with
    no `=` (declared, not set) is left out, as `load_dotenv` does.
    """
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("env file not found", file=display) from None
    except UnicodeDecodeError:
        raise ConfigError("env file is not UTF-8 text", file=display) from None
    except OSError as error:
        raise ConfigError(f"cannot read env file: {error.strerror}", file=display) from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.string.strip().splitlines()[0] if binding.original.string.strip() else ""
            raise ConfigError(
                f'cannot parse "{line[:60]}" (expected KEY=value)',
                file=display,
                line=binding.original.line,
            )
    values = dotenv_values(stream=io.StringIO(text))
    return {key: value for key, value in values.items() if value is not None}


def read_env_files(paths: list[tuple[Path, str]]) -> dict[str, str]:
    """Several env files merged in order; later files win."""
    merged: dict[str, str] = {}
    for path, display in paths:
        merged.update(read_env_file(path, display))
    return merged
