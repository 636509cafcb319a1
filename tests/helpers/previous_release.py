"""Published releases of the template, and a team's project generated from one of them.

``previous_release_repository`` makes a template repository of two tags: a published
release as it was (read from this repository's Git history by its commit) and this working
tree as the next one. ``apply_team_edits`` changes a project generated from that release
the ways a team would, on lines the next release leaves alone.
"""

import io
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path

from .lifecycle import Edit, replace_once
from .rendering import (
    ROOT,
    TEMPLATE_PARTS,
    copy_template,
    git,
    git_commit_all,
    read_answers,
)

# The releases whose projects the tests update to this one, with the commit each tag names
# (tags never move): the first release, the last of the previous major release, and the
# one before this.
PUBLISHED = {
    "v1.0.0": "3e5b4175c979c262ca3762c550717bbe21b8e272",
    "v2.4.0": "e90f581a2db3bf27e63c700367e0782aaeaff669",
    "v3.0.0": "e66eb3709136062924a6ebd146d6119c9b54ebd3",
}
CURRENT = (
    "v" + tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
)


def previous_release_files(tag: str, destination: Path) -> Path:
    """Write the template parts of the published release ``tag`` into ``destination``.

    Raises:
        AssertionError: this clone lacks the release's commit (a shallow clone).
    """
    commit = PUBLISHED[tag]
    archive = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        ["git", "archive", "--format=tar", commit, *TEMPLATE_PARTS],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert archive.returncode == 0, (
        f"this clone has no commit {commit} (release {tag}): the update test needs the "
        f"history; clone without --depth ({archive.stderr.decode(errors='replace').strip()})"
    )
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")
    return destination


def previous_release_repository(tag: str, destination: Path) -> Path:
    """Make a template repository: the published release ``tag``, then this working tree."""
    repository = previous_release_files(tag, destination)
    git(repository, "init", "--quiet", "--initial-branch=main")
    git_commit_all(repository, f"Release {tag}", tag=tag)
    for part in TEMPLATE_PARTS:
        path = repository / part
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    copy_template(repository)
    git_commit_all(repository, f"Release {CURRENT}", tag=CURRENT)
    return repository


MODULE = '''"""Business rules the team agreed on for the model's scores."""


def needs_review(probability: float, threshold: float = 0.8) -> bool:
    """Tell whether a predicted probability is too low to act on without review."""
    return probability < threshold
'''
MODULE_TEST = """from {package}.rules import needs_review


def test_low_probabilities_need_review() -> None:
    assert needs_review(0.5)
    assert not needs_review(0.9)
"""
NOTE = "Our tables come from the warehouse export of each Monday.\n\n"
# A settings file of the team's own, written for release 1: its data.dataset key is read
# by the next release, with a warning.
EXPERIMENT = '[data]\ndataset = "iris"\n'


def apply_team_edits(project: Path) -> list[Edit]:
    """Edit a committed project of the previous release as its team would; commit it."""
    package = read_answers(project)["package_name"]
    replace_once(project / "README.md", "## Set up\n\n", "## Set up\n\n" + NOTE)
    replace_once(project / "configs" / "default.toml", "\nseed = 42\n", "\nseed = 7\n")
    (project / "src" / package / "rules.py").write_text(MODULE, encoding="utf-8")
    (project / "tests" / "test_rules.py").write_text(
        MODULE_TEST.format(package=package), encoding="utf-8"
    )
    (project / "configs" / "experiment.toml").write_text(EXPERIMENT, encoding="utf-8")
    git_commit_all(project, "Our changes: data note, seed, review rule, an experiment")
    return [
        Edit("README.md", NOTE),
        Edit("configs/default.toml", "\nseed = 7\n"),
        Edit(f"src/{package}/rules.py", MODULE),
        Edit("tests/test_rules.py", MODULE_TEST.format(package=package)),
        Edit("configs/experiment.toml", EXPERIMENT),
    ]
