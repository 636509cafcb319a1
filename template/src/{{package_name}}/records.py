"""Run records: what a training run needs to be understood and reproduced later.

A record is a JSON document saved next to the model (``run.json``): the settings, the seed,
the dataset digests, the metrics and per-epoch history, the Git commit, the versions of
Python and of every package that shaped the result, the device, when it ran and how long.
"""

import json
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Self

from . import DISTRIBUTION, __version__
from .metrics import ClassScores, EpochStats, Report

RECORD_FILE = "run.json"


class ModelNotFoundError(FileNotFoundError):
    """There is no trained model where one was expected."""

    def __init__(self, path: Path) -> None:
        """Name the missing file and the command that creates it."""
        super().__init__(f"{path}: no trained model here; run `{DISTRIBUTION} train` first")


class DamagedFileError(ValueError):
    """A record written by the pipeline no longer has the shape the pipeline wrote."""

    def __init__(self, path: Path, error: Exception, command: str = "train") -> None:
        """Name the file, what is wrong with it, and the command that writes it again."""
        problem = f"missing key {error}" if isinstance(error, KeyError) else str(error)
        super().__init__(
            f"{path}: damaged ({problem}); run `{DISTRIBUTION} {command}` to write it again"
        )


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
    feature_names: tuple[str, ...]
    classes: tuple[str, ...]
    validation: Report
    history: tuple[EpochStats, ...]
    runtime: dict[str, str]
    git: dict[str, Any] | None
    packages: dict[str, str]
    python: str = field(default_factory=platform.python_version)
    platform: str = field(default_factory=platform.platform)
    project_version: str = __version__

    def write(self, directory: Path) -> Path:
        """Save the record as ``directory/run.json`` and return its path."""
        path = directory / RECORD_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, directory: Path) -> Self:
        """Load the record saved with a model; explain what to do when there is none."""
        path = directory / RECORD_FILE
        if not path.is_file():
            raise ModelNotFoundError(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            validation = data["validation"]
            per_class = {
                name: ClassScores(**scores) for name, scores in validation["per_class"].items()
            }
            data.update(
                feature_names=tuple(data["feature_names"]),
                classes=tuple(data["classes"]),
                validation=Report(**validation | {"per_class": per_class}),
                history=tuple(EpochStats(**epoch) for epoch in data["history"]),
            )
            return cls(**data)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise DamagedFileError(path, error) from None
