"""Full layer: install representative renders with uv and run each project's own checks.

Every check of one render carries the same ``xdist_group``, so under ``--dist loadgroup`` a
render is installed once, by one worker, and its checks run there in order. The uv cache is
the user's (or ``UV_CACHE_DIR``), shared by every render of the session.

Each ``ml_framework`` is installed once; the options are combined in the "all-on" render.
"""

from pathlib import Path
from typing import Any

import pytest

from rendering import ALL_ON, local_wheel_index, render, run, uv_binary

RENDERS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "framework-none": {"ml_framework": "none"},
    "framework-pytorch": {"ml_framework": "pytorch"},
    "framework-tensorflow": {"ml_framework": "tensorflow"},
    "all-on": ALL_ON,
}
CHECKS: dict[str, list[str]] = {
    "ruff-check": ["ruff", "check"],
    "ruff-format": ["ruff", "format", "--check"],
    "mypy": ["mypy"],
    "pytest": ["pytest"],
}

_installed: dict[str, Path] = {}


def installed(name: str, template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render ``RENDERS[name]`` and ``uv sync`` it, once per test process.

    A PyTorch render installs from the CPU-wheel index its pyproject names; where a CPU
    wheel lies on disk (pip's find-links), that index is pointed at it, by name.
    """
    if name not in _installed:
        work = tmp_path_factory.mktemp(name)
        project = render(template, work / "project", RENDERS[name])
        env = {}
        if RENDERS[name].get("ml_framework") == "pytorch":
            index = local_wheel_index("torch", work / "wheels")
            if index is not None:
                env["UV_INDEX"] = f"pytorch-cpu={index}"
        run([uv_binary(), "sync"], project, env=env)
        _installed[name] = project
    return _installed[name]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "check"),
    [
        pytest.param(name, check, marks=pytest.mark.xdist_group(name), id=f"{name}-{check}")
        for name in RENDERS
        for check in CHECKS
    ],
)
def test_generated_project_passes_its_checks(
    template: Path, tmp_path_factory: pytest.TempPathFactory, name: str, check: str
) -> None:
    project = installed(name, template, tmp_path_factory)
    run([uv_binary(), "run", "--no-sync", *CHECKS[check]], project)
