"""A project of the published previous release, edited by its team, updates to this one.

The previous release is read from this repository's history (``tests/previous_release.py``),
so the test updates exactly what teams generated. The update runs as the CHANGELOG's
"Updating" section says: ``copier update --defaults --conflict rej``. Every edit survives,
nothing conflicts, the files the release removes are gone, and (in the full layer) the
updated project passes its own checks and still reads the team's release-1 settings file.
"""

from pathlib import Path

import pytest

from lifecycle import Edit, conflicted_files, generate, lost_edits, update
from previous_release import CURRENT, PREVIOUS, apply_team_edits, previous_release_repository
from rendering import PROJECT_CHECKS, read_answers, run, uv_binary

pytestmark = [
    pytest.mark.update,
    pytest.mark.usefixtures("isolated_git"),
    pytest.mark.xdist_group("previous-release"),
]

_updated: dict[str, tuple[Path, list[Edit]]] = {}


def updated_project(factory: pytest.TempPathFactory) -> tuple[Path, list[Edit]]:
    """The edited project of the previous release, updated to this one, once per process."""
    if "project" not in _updated:
        repository = previous_release_repository(factory.mktemp("releases") / "copier-ml")
        project = generate(repository, PREVIOUS[0], factory.mktemp("team") / "project")
        edits = apply_team_edits(project)
        update(project, "rej")
        _updated["project"] = (project, edits)
    return _updated["project"]


def test_the_previous_release_updates_and_keeps_every_edit(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    project, edits = updated_project(tmp_path_factory)
    assert conflicted_files(project) == []
    assert lost_edits(project, edits) == []
    assert read_answers(project)["_commit"] == CURRENT
    package = read_answers(project)["package_name"]
    assert not (project / "src" / package / "data.py").exists(), "the release removes data.py"
    assert not (project / "tests" / "test_data.py").exists()
    for module in ("schema", "sources", "preprocessing", "contract", "_exceptions"):
        assert (project / "src" / package / f"{module}.py").is_file(), module
    settings = (project / "configs" / "default.toml").read_text(encoding="utf-8")
    assert 'source = "demo:wine"' in settings
    assert "dataset =" not in settings


@pytest.mark.slow
@pytest.mark.parametrize("check", list(PROJECT_CHECKS))
def test_the_updated_project_passes_its_checks(
    tmp_path_factory: pytest.TempPathFactory, check: str
) -> None:
    project, _ = updated_project(tmp_path_factory)
    if not (project / ".venv").exists():
        run([uv_binary(), "sync"], project)
    run([uv_binary(), "run", "--no-sync", *PROJECT_CHECKS[check]], project)


@pytest.mark.slow
def test_the_teams_release_1_settings_still_train(tmp_path_factory: pytest.TempPathFactory) -> None:
    """``data.dataset = "iris"`` becomes ``source = "demo:iris"``, with a warning."""
    project, _ = updated_project(tmp_path_factory)
    if not (project / ".venv").exists():
        run([uv_binary(), "sync"], project)
    slug = read_answers(project)["project_slug"]
    result = run(
        [uv_binary(), "run", "--no-sync", slug, "--config", "configs/experiment.toml", "prepare"],
        project,
    )
    assert 'data.dataset is deprecated: write data.source = "demo:iris"' in result.stderr
    assert "training and" in result.stdout
