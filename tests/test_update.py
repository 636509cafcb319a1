"""`copier update` brings each template release in and never loses the team's work.

Every test here shares one template repository with three releases (tests/lifecycle.py)
and one xdist group, so one worker builds the history, renders and edits each old release
once, and updates a copy of it per scenario:

* from each older release to the newest, with the team's edits: the releases arrive,
  every edit survives, nothing conflicts (and, in the full layer, the checks pass);
* an edit to a line a release changes: a visible conflict, inline or as a ``.rej`` file;
* an edit to a file a release renames or removes: inline mode drops it, which the test
  detects, and the safe ways the READMEs document (``--conflict rej``, Git) keep it;
* an answer whose choice a release took away: ``--defaults`` alone replaces it with the
  default, in silence, and ``--data`` (the way the READMEs give) sets the team's choice;
* the newest release updated to itself: nothing changes.
"""

from pathlib import Path

import pytest

from helpers.lifecycle import (
    BENCHMARK_ROW,
    NEW_BENCHMARK_ROW,
    NEWEST,
    RELEASES,
    REMOVED,
    REMOVED_CHOICE,
    RENAMED,
    Conflict,
    Edit,
    apply_user_edits,
    clone_of,
    conflicted_files,
    generate,
    lost_edits,
    replace_once,
    update,
)
from helpers.rendering import PROJECT_CHECKS, git, git_commit_all, read_answers, run, uv_binary

pytestmark = [
    pytest.mark.update,
    pytest.mark.usefixtures("isolated_git"),
    pytest.mark.xdist_group("update"),
]

_edited: dict[str, tuple[Path, list[Edit]]] = {}
_updated: dict[str, Path] = {}


def edited_project(
    history: Path, version: str, factory: pytest.TempPathFactory
) -> tuple[Path, list[Edit]]:
    """A project generated from ``version`` and edited by its team, once per process."""
    if version not in _edited:
        project = generate(history, version, factory.mktemp(f"edited-{version}") / "project")
        _edited[version] = (project, apply_user_edits(project))
    return _edited[version]


def updated_project(history: Path, version: str, factory: pytest.TempPathFactory) -> Path:
    """The edited project of ``version`` updated to the newest release, once per process."""
    if version not in _updated:
        original, _ = edited_project(history, version, factory)
        _updated[version] = clone_of(original, factory.mktemp(f"updated-{version}") / "project")
        update(_updated[version])
    return _updated[version]


def scenario(
    history: Path, factory: pytest.TempPathFactory, tmp_path: Path, version: str = RELEASES[0]
) -> tuple[Path, list[Edit]]:
    """A copy of the edited project of ``version`` for one test to change and update."""
    original, edits = edited_project(history, version, factory)
    return clone_of(original, tmp_path / "project"), edits


def read(project: Path, relative: str) -> str:
    """Return the text of a file of the project."""
    return (project / relative).read_text(encoding="utf-8")


@pytest.mark.parametrize("version", RELEASES[:-1])
def test_update_brings_every_release_and_keeps_every_edit(
    history: Path, tmp_path_factory: pytest.TempPathFactory, version: str
) -> None:
    project = updated_project(history, version, tmp_path_factory)
    _, edits = edited_project(history, version, tmp_path_factory)

    assert conflicted_files(project) == []
    assert lost_edits(project, edits) == []
    answers = read_answers(project)
    assert answers["_commit"] == NEWEST
    # v1.1.0 asked a new question: a project made before it gets its default.
    assert answers["coverage_threshold"] == 90
    assert "fail_under = 90\n" in read(project, "pyproject.toml")
    assert "fails under 90% branch coverage" in read(project, "CONTRIBUTING.md")
    # v2.0.0 renamed one benchmark and removed another; its README edit merged with ours.
    assert not (project / RENAMED[0]).exists()
    assert (project / RENAMED[1]).is_file()
    assert not (project / REMOVED).exists()
    readme = read(project, "README.md")
    assert NEW_BENCHMARK_ROW in readme
    assert BENCHMARK_ROW not in readme


def test_update_to_the_same_release_changes_nothing(history: Path, tmp_path: Path) -> None:
    project = generate(history, NEWEST, tmp_path / "project")

    update(project)

    assert git(project, "status", "--porcelain") == ""
    assert git(project, "diff", "HEAD") == ""


@pytest.mark.parametrize("conflict", ["inline", "rej"])
def test_an_overlapping_edit_is_a_visible_conflict(
    history: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, conflict: Conflict
) -> None:
    """The team raised the coverage threshold on the line v1.1.0 changes."""
    project, edits = scenario(history, tmp_path_factory, tmp_path)
    replace_once(project / "pyproject.toml", "fail_under = 95", "fail_under = 97")
    git_commit_all(project, "Raise our coverage threshold")

    update(project, conflict)

    assert lost_edits(project, edits) == []
    pyproject = read(project, "pyproject.toml")
    if conflict == "inline":
        assert conflicted_files(project) == ["pyproject.toml"]
        ours, _, theirs = pyproject.partition("<<<<<<< before updating\n")[2].partition("=======\n")
        assert ours == "fail_under = 97\n"
        assert theirs.startswith("fail_under = 90\n>>>>>>> after updating\n")
    else:
        assert conflicted_files(project) == ["pyproject.toml.rej"]
        assert "+fail_under = 97\n" in read(project, "pyproject.toml.rej")
        assert "fail_under = 90\n" in pyproject


@pytest.mark.parametrize("conflict", ["inline", "rej"])
def test_an_edit_to_a_renamed_or_removed_file_is_never_lost_unseen(
    history: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, conflict: Conflict
) -> None:
    """The team edited the benchmarks that v2.0.0 renames and removes.

    Inline mode deletes both files with the edits: this test reports that as the files it
    finds lost, and checks the way back the READMEs give (Git keeps them in HEAD). With
    ``--conflict rej`` each edit is left in a ``.rej`` file beside the deleted file.
    """
    project, _ = scenario(history, tmp_path_factory, tmp_path, version=RELEASES[1])
    ours = "# Our note: compare with last quarter's numbers before changing these.\n"
    edits = [Edit(RENAMED[0], ours), Edit(REMOVED, ours)]
    for edit in edits:
        with (project / edit.path).open("a", encoding="utf-8") as stream:
            stream.write(ours)
    git_commit_all(project, "Note how to read the benchmarks")

    update(project, conflict)

    assert lost_edits(project, edits) == [RENAMED[0], REMOVED]
    if conflict == "inline":
        assert conflicted_files(project) == []
        deleted = git(project, "diff", "HEAD", "--name-only", "--diff-filter=D").split()
        assert {RENAMED[0], REMOVED} <= set(deleted)
        for edit in edits:
            assert ours in git(project, "show", f"HEAD:{edit.path}")
    else:
        assert conflicted_files(project) == sorted(f"{edit.path}.rej" for edit in edits)
        for edit in edits:
            assert f"+{ours}" in read(project, f"{edit.path}.rej")


@pytest.mark.parametrize("data", [{}, {"license": "Apache-2.0"}], ids=["defaults", "data"])
def test_an_answer_whose_choice_was_taken_away_is_replaced_as_the_readmes_say(
    history: Path, tmp_path: Path, data: dict[str, str]
) -> None:
    """v2.0.0 takes ``BSD-3-Clause`` away from ``license``; a project had answered it.

    Copier drops a recorded answer its question no longer accepts. With ``--defaults``
    alone, the question's default takes its place and nothing says so: that is why such a
    release is major and its Updating note names the question, and why the READMEs say to
    give the new answer with ``--data``.
    """
    question, taken_away, _ = REMOVED_CHOICE
    project = generate(history, RELEASES[1], tmp_path / "project", {question: taken_away})
    assert "BSD 3-Clause License" in read(project, "LICENSE")

    update(project, "rej", data)

    expected = data.get(question, "MIT")
    assert read_answers(project)[question] == expected
    assert f'license = "{expected}"' in read(project, "pyproject.toml")
    assert "BSD" not in read(project, "LICENSE")
    assert conflicted_files(project) == []


@pytest.mark.slow
@pytest.mark.parametrize("check", list(PROJECT_CHECKS))
def test_updated_project_passes_its_checks(
    history: Path, tmp_path_factory: pytest.TempPathFactory, check: str
) -> None:
    """The oldest release, edited, then updated across every release: still green."""
    project = updated_project(history, RELEASES[0], tmp_path_factory)
    if not (project / ".venv").exists():
        run([uv_binary(), "sync"], project)
    run([uv_binary(), "run", "--no-sync", *PROJECT_CHECKS[check]], project)
