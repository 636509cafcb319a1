"""Run records: what a training run needs to be understood and reproduced later.

A record is a JSON document saved next to the model (``run.json``): the settings, the seed,
the dataset digests and schema (the model's input contract), the validation metrics and
per-epoch history, the Git commit, the versions of
Python and of every package that shaped the result, the device, when it ran and how long.
A ``TrialRecord`` is the smaller record of one trial of ``tune`` (``tune.py``).
"""

import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Self

from . import __version__
from .artifacts import read_document, write_json
from .contract import EpochStats
from .schema import DatasetSchema

RECORD_FILE = "run.json"


def git_state(directory: Path) -> dict[str, Any] | None:
    """Return the commit checked out in ``directory`` and whether the tree is dirty.

    Returns ``None`` when Git is not installed or ``directory`` is not in a repository.
    """
    git = shutil.which("git")
    if git is None:
        return None
    head = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [git, "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        return None
    status = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [git, "status", "--porcelain"], cwd=directory, capture_output=True, text=True, check=False
    )
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Return the installed version of each package (absent ones are left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


@dataclass(frozen=True)
class RunRecord:
    """Everything about one training run; saved as ``run.json`` beside the model."""

    started_at: str
    duration_seconds: float
    seed: int
    settings: dict[str, Any]
    dataset: dict[str, Any]
    schema: DatasetSchema
    validation: dict[str, Any]
    history: tuple[EpochStats, ...]
    runtime: dict[str, str]
    git: dict[str, Any] | None
    packages: dict[str, str]
    python: str = field(default_factory=platform.python_version)
    platform: str = field(default_factory=platform.platform)
    project_version: str = __version__

    def write(self, directory: Path) -> Path:
        """Save the record as ``directory/run.json`` (atomically) and return its path."""
        return write_json(directory / RECORD_FILE, asdict(self))

    @classmethod
    def read(cls, directory: Path) -> Self:
        """Load the record saved with a model.

        Raises:
            MissingArtifactError: there is no record: no model was trained here.
            DamagedArtifactError: the record no longer has the shape ``write`` gave it.
        """
        return read_document(directory / RECORD_FILE, "train", cls.from_dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuild a record from its JSON form.

        Raises:
            ValueError, KeyError, TypeError, AttributeError: ``data`` is not of that form.
        """
        data.update(
            schema=DatasetSchema.from_dict(data["schema"]),
            history=tuple(EpochStats(**epoch) for epoch in data["history"]),
        )
        return cls(**data)


@dataclass(frozen=True)
class TrialRecord:
    """One ended trial of ``tune``, as ``reports/tuning/<study>/trial-<number>.json`` keeps it."""

    study: str
    number: int
    state: str
    params: dict[str, Any]
    metric: str
    value: float | None
    validation: dict[str, Any] | None
    history: list[dict[str, float]]
    duration_seconds: float | None
