"""The Procfile's `release` entry: Heroku's release phase, as a one-shot task.

On Heroku, `release: python manage.py migrate` runs once before the new
processes start, and a failed release stops the deploy. Here it becomes a
task (`startsecs = 0`, `autorestart = false`, no retries) that every other
process depends on, so `up` runs it first and starts nothing else unless it
exits with 0. A `[tool.supervise.processes.release]` table means the user
decides: the entry is then left exactly as configured.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from supervise.config.model import Autorestart, ProcessSpec, RestartPolicy

RELEASE = "release"

TASK_POLICY = RestartPolicy(autorestart=Autorestart.NEVER, startsecs=0, startretries=0)
"""Runs once; a failed migration is not retried (Heroku does not retry a release either)."""


def apply_release_phase(
    specs: Sequence[ProcessSpec], from_procfile: Collection[str], configured: Collection[str]
) -> list[ProcessSpec]:
    """Make the Procfile's `release` a task that every other process depends on.

    `from_procfile`: names that came from a Procfile; `configured`: names that
    `[tool.supervise]` gives options of their own. Without a Procfile
    `release`, or with options for it, `specs` come back unchanged.
    """
    if RELEASE not in from_procfile or RELEASE in configured:
        return list(specs)
    out = []
    for spec in specs:
        if spec.name == RELEASE:
            out.append(dataclasses.replace(spec, restart=TASK_POLICY))
        elif RELEASE in spec.depends_on:
            out.append(spec)
        else:
            out.append(dataclasses.replace(spec, depends_on=(RELEASE, *spec.depends_on)))
    return out
