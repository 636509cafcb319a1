"""Quick layer: `copier update` brings template changes in and keeps the user's edits.

Each test builds a throw-away Git repository of the template, renders a project from its
first tag, commits it as a user would, then releases a template change and updates.
"""

from pathlib import Path

import copier
import pytest

from rendering import files_of, git, git_commit_all, render, template_repository

pytestmark = pytest.mark.usefixtures("isolated_git")

USER_SECTION = (
    "\n## Our data\n\nThe raw data lives in the team bucket; ask #ml-platform for access.\n"
)


def update(project: Path) -> None:
    """Run `copier update --defaults` on ``project`` to the newest template tag."""
    copier.run_update(project, defaults=True, overwrite=True, unsafe=False, quiet=True)


def generated_project(template_repo: Path, destination: Path) -> Path:
    """Render from the template repository's newest tag and commit the result."""
    project = render(template_repo, destination)
    git(project, "init", "--quiet", "--initial-branch=main")
    git_commit_all(project, "Generate the project")
    return project


def test_update_brings_template_change_and_keeps_user_edit(tmp_path: Path) -> None:
    template_repo = template_repository(tmp_path / "template")
    project = generated_project(template_repo, tmp_path / "project")

    readme = project / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + USER_SECTION, encoding="utf-8")
    git_commit_all(project, "Document where our data lives")

    pyproject = template_repo / "template" / "pyproject.toml.jinja"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace("line-length = 100", "line-length = 99"),
        encoding="utf-8",
    )
    git_commit_all(template_repo, "Narrow the line length", tag="v1.1.0")

    update(project)

    assert "line-length = 99" in (project / "pyproject.toml").read_text(encoding="utf-8")
    assert readme.read_text(encoding="utf-8").endswith(USER_SECTION)
    for path in files_of(project):
        assert not path.name.endswith(".rej"), path
        text = path.read_text(encoding="utf-8")
        assert "<<<<<<<" not in text, path
        assert ">>>>>>>" not in text, path
    assert "_commit: v1.1.0" in (project / ".copier-answers.yml").read_text(encoding="utf-8")


def test_update_to_the_same_version_changes_nothing(tmp_path: Path) -> None:
    template_repo = template_repository(tmp_path / "template")
    project = generated_project(template_repo, tmp_path / "project")

    update(project)

    assert git(project, "status", "--porcelain") == ""
    assert git(project, "diff", "HEAD") == ""
