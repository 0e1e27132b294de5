"""Shell completion values: the project's process, group and instance names, and export formats.

Called by the shell's completion hook (typer's `autocompletion=`), with the
options typed so far (`-f`, `-d`, `-m`), so names come from the project the
command would act on. A project that cannot be read completes nothing rather
than printing an error into the user's command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supervise.commands.options import CommonOptions
from supervise.errors import SuperviseError


def project_names(
    params: Mapping[str, Any], incomplete: str, *, instances: bool, extra: tuple[str, ...] = ()
) -> list[str]:
    """Process and group names (and instance names with `instances`) that start with `incomplete`."""
    options = CommonOptions(
        procfile=params.get("procfile"),
        root=params.get("root"),
        formation=params.get("formation"),
    )
    names: list[str] = []
    try:
        project = options.load_project()
        names += [*project.names, *project.groups]
        if instances:
            plan = options.load_plan(project.names, project=project, caller_env={})
            names += [instance.name for instance in plan.instances]
    except (SuperviseError, OSError):
        pass
    return [name for name in dict.fromkeys([*names, *extra]) if name.startswith(incomplete)]


def export_formats(incomplete: str) -> list[str]:
    """The `--format` values."""
    from supervise.export import FORMATS

    return [name for name in FORMATS if name.startswith(incomplete)]
