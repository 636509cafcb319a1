"""Print, as JSON, every name a project's environment takes: run with the project's interpreter.

The template's validators refuse these names for ``package_name`` (``modules``) and
``project_slug`` (``distributions`` and ``commands``); the full layer runs this script in
each installed render and checks that ``includes/`` lists all of them. It imports nothing
but the standard library, so it runs in any render's environment.
"""

import importlib.metadata
import json
import re
import sysconfig
from pathlib import Path


def canonical(name: str) -> str:
    """Return a distribution name as PEP 503 normalises it (``Typing_Extensions`` → ``typing-extensions``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def environment_names() -> dict[str, list[str]]:
    """Return the top-level modules, distributions and commands of the running environment.

    Modules and commands are lowercased: on the case-insensitive file systems of macOS and
    Windows, ``pil`` would shadow ``PIL``.
    """
    distributions = list(importlib.metadata.distributions())
    commands = {
        entry_point.name.lower()
        for distribution in distributions
        for entry_point in distribution.entry_points
        if entry_point.group in {"console_scripts", "gui_scripts"}
    }
    commands |= {path.stem.lower() for path in Path(sysconfig.get_path("scripts")).iterdir()}
    return {
        "modules": sorted({name.lower() for name in importlib.metadata.packages_distributions()}),
        "distributions": sorted({canonical(d.metadata["Name"]) for d in distributions}),
        "commands": sorted(commands),
    }


if __name__ == "__main__":
    print(json.dumps(environment_names()))
