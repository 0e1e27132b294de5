"""Which paths matter: root-relative globs with a real `**`, and the default ignores.

`Path.match` treats `**` like `*` before Python 3.13 and `fnmatch`'s `*`
crosses `/`, so globs are compiled here, once, into anchored regexes.
`WatchFilter` is a watchfiles-style `(change, path) -> bool` filter.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchfiles import Change

MAGIC = re.compile(r"[*?\[]")


class WatchFilter:
    """A watchfiles filter, `(change, path) -> bool`: False for paths nobody wants to reload on.

    With a `root`, only the parts of a path below the root are checked, so a
    project that itself lives in a folder named `env` is still watched.
    """

    __slots__ = ("_dir_names", "_entity_regex", "_root", "_venv_dirs", "detect_venvs")

    ignore_dirs: tuple[str, ...] = (
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".venv",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
    )
    """Folder names whose whole tree is ignored: VCS data, caches, `.venv`, node packages.

    Other virtual envs (`venv`, `env`, ...) are recognised by their `pyvenv.cfg`,
    so a package folder that happens to be called `env` is still watched.
    """

    ignore_entity_patterns: tuple[str, ...] = (
        r"\.sw[a-px]$",
        r"~$",
        r"^\.#",
        r"^#.*#$",
        r"^4913$",
    )
    """File name patterns of editor swap, backup and lock files (vim, emacs; `4913` is vim's write test)."""

    def __init__(
        self,
        root: Path | str | None = None,
        *,
        ignore_dirs: Sequence[str] | None = None,
        ignore_entity_patterns: Sequence[str] | None = None,
        detect_venvs: bool = True,
    ) -> None:
        """`detect_venvs` also ignores any folder holding a `pyvenv.cfg` (one cached stat per folder)."""
        self._root = str(root).rstrip("/") if root is not None else None
        self._dir_names = frozenset(self.ignore_dirs if ignore_dirs is None else ignore_dirs)
        patterns = self.ignore_entity_patterns if ignore_entity_patterns is None else ignore_entity_patterns
        self._entity_regex = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        self.detect_venvs = detect_venvs
        self._venv_dirs: dict[str, bool] = {}

    def __call__(self, change: Change, path: str) -> bool:
        """True when a change to `path` (absolute) may matter."""
        rel, base = self._split(path)
        parts = rel.split("/")
        if not self._dir_names.isdisjoint(parts[:-1]) or parts[-1] in self._dir_names:
            return False
        if self._entity_regex is not None and self._entity_regex.search(parts[-1]):
            return False
        return not (self.detect_venvs and self._under_venv(base, parts[:-1]))

    def _split(self, path: str) -> tuple[str, str]:
        """(path relative to the root, the root) or (the absolute path, "")."""
        root = self._root
        if root is not None and path.startswith(root + "/"):
            return path[len(root) + 1 :], root
        return path.lstrip("/"), ""

    def _under_venv(self, base: str, dirs: list[str]) -> bool:
        folder = base
        for name in dirs:
            folder = f"{folder}/{name}"
            known = self._venv_dirs.get(folder)
            if known is None:
                known = self._venv_dirs[folder] = os.path.exists(f"{folder}/pyvenv.cfg")
            if known:
                return True
        return False

    def __repr__(self) -> str:
        return (
            f"WatchFilter(root={self._root!r}, ignore_dirs={sorted(self._dir_names)!r}, "
            f"ignore_entity_patterns={self._entity_regex.pattern if self._entity_regex else None!r}, "
            f"detect_venvs={self.detect_venvs!r})"
        )


def normalize_glob(pattern: str) -> str:
    """`./src//**/` -> `src/**`; a leading `/` means the root; `.` and `` mean all of it."""
    norm = posixpath.normpath(pattern).lstrip("/")
    return "" if norm in (".", "") else norm


def compile_glob(pattern: str) -> re.Pattern[str]:
    """A root-relative glob as a regex over root-relative POSIX paths.

    `**` is zero or more folders, `*` and `?` stay within one path part,
    `[...]` is a character class (`[!...]` negated). A match on a folder covers
    everything inside it. Use `.match(path)`; the pattern is anchored at both ends.
    """
    norm = normalize_glob(pattern)
    # Paths outside the root (`../lib/x.py`) only match globs that also start with `..`.
    inside = r"(?!\.\.(?:/|\Z))"
    if not norm:
        return re.compile(inside + r".*\Z", re.DOTALL)
    segments = norm.split("/")
    out: list[str] = [] if segments[0] == ".." else [inside]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
        else:
            out.append(_segment_regex(segment) + ("" if last else "/"))
    tail = "" if segments[-1] == "**" else "(?:/.*)?"
    return re.compile("".join(out) + tail + r"\Z", re.DOTALL)


def _segment_regex(segment: str) -> str:
    """One path part: `*` -> `[^/]*`, `?` -> `[^/]`, `[...]` -> a class that never matches `/`."""
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        char = segment[i]
        i += 1
        if char == "*":
            if not out or out[-1] != "[^/]*":
                out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            j = i
            if j < n and segment[j] in "!^":
                j += 1
            if j < n and segment[j] == "]":
                j += 1
            j = segment.find("]", j)
            if j < 0:
                out.append(re.escape(char))
                continue
            body = segment[i:j].replace("\\", "\\\\")
            i = j + 1
            if body[:1] in ("!", "^"):
                out.append(f"[^/{body[1:]}]")
            else:
                out.append(f"(?!/)[{body}]")
        else:
            out.append(re.escape(char))
    return "".join(out)
