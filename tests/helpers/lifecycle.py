"""A template release history and a user's edits, for the tests of `copier update`.

``release_history`` makes a Git repository of the template with three tagged releases: the
template as it is (v1.0.0), then two synthetic releases that change it the ways real
releases do. ``apply_user_edits`` changes a generated project the ways its team would.
Each change names text that must be in the file, so a template edit that moves it fails
here, loudly, rather than making a scenario pass without testing anything.
"""

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import copier

from .rendering import git, git_commit_all, read_answers, render, template_repository

RELEASES = ("v1.0.0", "v1.1.0", "v2.0.0")
CONFLICT_MARKER = re.compile(r"^(?:<{7} |>{7} |={7}(?: |$))", re.MULTILINE)
NEWEST = RELEASES[-1]

# v1.1.0: a new question with a default, used by a changed value and by a new file.
NEW_QUESTION = """coverage_threshold:
  type: int
  help: Branch coverage, in percent, below which the test run fails.
  default: 90

"""
CONTRIBUTING = """# Contributing to {{ project_name }}

Run `uv run pytest` before each push: it fails under {{ coverage_threshold }}% branch coverage.
"""
# v2.0.0: a renamed file, a removed file, an edit in a file the user edits too, and a choice
# taken away (a project that had it gets the question's default unless told otherwise).
RENAMED = ("benchmarks/test_bench_data.py", "benchmarks/test_bench_dataset.py")
REMOVED_CHOICE = ("license", "BSD-3-Clause", "    BSD 3-Clause: BSD-3-Clause\n")
REMOVED = "benchmarks/test_bench_profiling.py"
BENCHMARK_ROW = (
    "| Benchmarks | `uv run pytest benchmarks --no-cov -n 0` (not part of the test run) |"
)
NEW_BENCHMARK_ROW = BENCHMARK_ROW.replace("test run)", "test run; results in `.benchmarks/`)")


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in ``path`` with ``new``."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: expected {old!r} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def release_history(destination: Path) -> Path:
    """Make a template repository whose tags are ``RELEASES``, each a realistic change."""
    repository = template_repository(destination, tag=RELEASES[0])
    files = repository / "template"

    replace_once(
        repository / "copier.yml", "# Computed values:", NEW_QUESTION + "# Computed values:"
    )
    replace_once(
        files / "pyproject.toml.jinja", "fail_under = 95", "fail_under = {{ coverage_threshold }}"
    )
    (files / "CONTRIBUTING.md.jinja").write_text(CONTRIBUTING, encoding="utf-8")
    git_commit_all(
        repository, "Ask for the coverage threshold; add CONTRIBUTING.md", tag=RELEASES[1]
    )

    old, new = (files / f"{name}.jinja" for name in RENAMED)
    git(repository, "mv", str(old), str(new))
    git(repository, "rm", "--quiet", f"template/{REMOVED}.jinja")
    replace_once(files / "README.md.jinja", BENCHMARK_ROW, NEW_BENCHMARK_ROW)
    replace_once(repository / "copier.yml", REMOVED_CHOICE[2], "")
    git_commit_all(repository, "Rename and remove benchmarks; drop a licence", tag=RELEASES[2])
    return repository


@dataclass(frozen=True)
class Edit:
    """A change a team makes to its project: ``added`` must survive every update."""

    path: str
    added: str


# A new module with its test, as a team writes them to the project's standard.
MODULE = '''"""Decision thresholds the team agreed on for the model's scores."""


def is_confident(probability: float, threshold: float = 0.8) -> bool:
    """Tell whether a predicted probability is high enough to act on without review.

    Raises:
        ValueError: ``probability`` or ``threshold`` is not within [0, 1].
    """
    for name, value in (("probability", probability), ("threshold", threshold)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {value}")
    return probability >= threshold
'''
MODULE_TEST = """import pytest

from {package}.thresholds import is_confident


def test_scores_at_or_above_the_threshold_are_confident() -> None:
    assert is_confident(0.8)
    assert not is_confident(0.79)
    assert is_confident(0.5, threshold=0.5)


@pytest.mark.parametrize(("probability", "threshold"), [(-0.1, 0.8), (0.5, 1.5)])
def test_values_outside_the_unit_interval_are_refused(probability: float, threshold: float) -> None:
    with pytest.raises(ValueError, match="must be within"):
        is_confident(probability, threshold)
"""
DATA_NOTE = "The raw data lives in the team bucket; ask #ml-platform for access.\n\n"


def apply_user_edits(project: Path) -> list[Edit]:
    """Edit a committed render as its team would, commit, and return the edits.

    A new dependency, an edited README section, a new module with its test and a changed
    default in a generated module: none of them touches a line the releases change.
    """
    package = read_answers(project)["package_name"]
    replace_once(
        project / "pyproject.toml", "dependencies = [\n", 'dependencies = [\n    "joblib>=1.4",\n'
    )
    replace_once(project / "README.md", "## Set up\n\n", "## Set up\n\n" + DATA_NOTE)
    (project / "src" / package / "thresholds.py").write_text(MODULE, encoding="utf-8")
    (project / "tests" / "test_thresholds.py").write_text(
        MODULE_TEST.format(package=package), encoding="utf-8"
    )
    config = f"src/{package}/config.py"
    old_default = "validation_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2\n"
    replace_once(project / config, old_default, old_default.replace("0.2", "0.25"))
    git_commit_all(project, "Our changes: joblib, data access, thresholds, validation split")
    return [
        Edit("pyproject.toml", '    "joblib>=1.4",\n'),
        Edit("README.md", DATA_NOTE),
        Edit(f"src/{package}/thresholds.py", MODULE),
        Edit("tests/test_thresholds.py", MODULE_TEST.format(package=package)),
        Edit(config, "= 0.25\n"),
    ]


def generate(
    history: Path, version: str, destination: Path, answers: dict[str, str] | None = None
) -> Path:
    """Render ``version`` of the history into a new Git repository with one commit."""
    project = render(history, destination, answers, vcs_ref=version)
    git(project, "init", "--quiet", "--initial-branch=main")
    git_commit_all(project, f"Generate the project from copier-ml {version}")
    return project


def clone_of(project: Path, destination: Path) -> Path:
    """Copy a project with its Git history, so that each scenario updates its own copy."""
    shutil.copytree(project, destination, symlinks=True)
    return destination


def conflicted_files(project: Path) -> list[str]:
    """Return the files holding conflict markers, and the ``.rej`` files, of a project.

    A marker starts a line, as the check-merge-conflict hook reads it: the READMEs quote
    markers inside lines, which are no conflict.
    """
    found = []
    for path in sorted(project.rglob("*")):
        if ".git" in path.relative_to(project).parts or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".rej" or CONFLICT_MARKER.search(text):
            found.append(path.relative_to(project).as_posix())
    return found


def lost_edits(project: Path, edits: list[Edit]) -> list[str]:
    """Return the files whose user edit is no longer in the working tree."""
    return [
        edit.path
        for edit in edits
        if not (project / edit.path).is_file()
        or edit.added not in (project / edit.path).read_text(encoding="utf-8")
    ]


Conflict = Literal["inline", "rej"]


def update(
    project: Path, conflict: Conflict = "inline", data: dict[str, str] | None = None
) -> None:
    """Run `copier update --defaults --conflict <conflict> [--data ...]` to the newest release."""
    copier.run_update(
        project,
        data=data or {},
        defaults=True,
        overwrite=True,
        unsafe=False,
        quiet=True,
        conflict=conflict,
    )
