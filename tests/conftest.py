"""Shared fixtures: temp projects from a dict of files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.support import write_files


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[[Mapping[str, str | bytes]], Path]:
    """`make_project({"Procfile": "web: ..."})` -> the project root."""

    def make(files: Mapping[str, str | bytes]) -> Path:
        return write_files(tmp_path, files)

    return make
