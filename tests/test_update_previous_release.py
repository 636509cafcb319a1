"""Projects of published releases, edited by their teams, update to this one.

Each published release (``tests/helpers/previous_release.py``: the first, the last of
release 2, and the one before this)
is read from this repository's history, so the tests update exactly what teams generated.
The update runs as the CHANGELOG's "Updating" section says: ``copier update --defaults
--conflict rej``. Every edit survives, nothing conflicts, the files the releases since
removed are gone, and (in the full layer) the updated project passes its own checks and
still reads the team's release-1 settings file.
"""

from pathlib import Path

import pytest

from helpers.lifecycle import Edit, conflicted_files, generate, lost_edits, update
from helpers.previous_release import (
    CURRENT,
    PUBLISHED,
    apply_team_edits,
    previous_release_repository,
)
from helpers.rendering import PROJECT_CHECKS, read_answers, run, uv_binary

pytestmark = [pytest.mark.update, pytest.mark.usefixtures("isolated_git")]

_updated: dict[str, tuple[Path, list[Edit]]] = {}


def from_each_release(*marks: pytest.MarkDecorator) -> list[object]:
    """Parametrize a test over the published releases, each in its own xdist group."""
    return [
        pytest.param(tag, marks=[pytest.mark.xdist_group(f"release-{tag}"), *marks], id=tag)
        for tag in PUBLISHED
    ]


def updated_project(tag: str, factory: pytest.TempPathFactory) -> tuple[Path, list[Edit]]:
    """The edited project of release ``tag``, updated to this one, once per process."""
    if tag not in _updated:
        repository = previous_release_repository(tag, factory.mktemp("releases") / "copier-ml")
        project = generate(repository, tag, factory.mktemp("team") / "project")
        edits = apply_team_edits(project)
        update(project, "rej")
        _updated[tag] = (project, edits)
    return _updated[tag]


def installed(tag: str, factory: pytest.TempPathFactory) -> Path:
    """The updated project of release ``tag``, with its environment."""
    project, _ = updated_project(tag, factory)
    if not (project / ".venv").exists():
        run([uv_binary(), "sync"], project)
    return project


@pytest.mark.parametrize("tag", from_each_release())
def test_a_published_release_updates_and_keeps_every_edit(
    tmp_path_factory: pytest.TempPathFactory, tag: str
) -> None:
    project, edits = updated_project(tag, tmp_path_factory)
    assert conflicted_files(project) == []
    assert lost_edits(project, edits) == []
    assert read_answers(project)["_commit"] == CURRENT
    package = project / "src" / read_answers(project)["package_name"]
    # 2.0.0 replaced the hand-written data layer; 3.0.0 removed code nothing called.
    assert not (package / "data.py").exists()
    assert not (project / "tests" / "test_data.py").exists()
    assert not (project / "benchmarks" / "test_bench_security.py").exists()
    assert "hash_password" not in (package / "security.py").read_text(encoding="utf-8")
    for module in ("schema", "sources", "preprocessing", "contract", "_exceptions", "locking"):
        assert (package / f"{module}.py").is_file(), module
    settings = (project / "configs" / "default.toml").read_text(encoding="utf-8")
    assert 'source = "demo:wine"' in settings
    assert "dataset =" not in settings


@pytest.mark.slow
@pytest.mark.parametrize("check", list(PROJECT_CHECKS))
@pytest.mark.parametrize("tag", from_each_release())
def test_the_updated_project_passes_its_checks(
    tmp_path_factory: pytest.TempPathFactory, tag: str, check: str
) -> None:
    run([uv_binary(), "run", "--no-sync", *PROJECT_CHECKS[check]], installed(tag, tmp_path_factory))


@pytest.mark.slow
@pytest.mark.parametrize("tag", from_each_release())
def test_the_teams_release_1_settings_still_train(
    tmp_path_factory: pytest.TempPathFactory, tag: str
) -> None:
    """``data.dataset = "iris"`` becomes ``source = "demo:iris"``, with a warning."""
    project = installed(tag, tmp_path_factory)
    slug = read_answers(project)["project_slug"]
    result = run(
        [uv_binary(), "run", "--no-sync", slug, "--config", "configs/experiment.toml", "prepare"],
        project,
    )
    assert 'data.dataset is deprecated: write data.source = "demo:iris"' in result.stderr
    assert "training and" in result.stdout
