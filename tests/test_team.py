"""Quick layer: team defaults, as the README documents them, land in the answers.

``examples/team.yml`` is a data file (``copier copy --data-file``): fixed answers for a
whole organisation. ``examples/settings.yml`` is Copier's user settings file (its
``defaults`` are offered for every question). Both run through Copier's command line.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.rendering import ROOT, choices_of, questions, read_answers, run, venv_tool

EXAMPLES = ROOT / "examples"


def team_answers() -> dict[str, Any]:
    """Return the answers of the example data file."""
    answers: dict[str, Any] = yaml.safe_load((EXAMPLES / "team.yml").read_text(encoding="utf-8"))
    return answers


def settings_defaults() -> dict[str, Any]:
    """Return the defaults of the example user settings."""
    settings = yaml.safe_load((EXAMPLES / "settings.yml").read_text(encoding="utf-8"))
    defaults: dict[str, Any] = settings["defaults"]
    return defaults


def copier_copy(template: Path, destination: Path, *options: str, settings: Path) -> Path:
    """Run `copier copy --defaults` with these options and this user settings file."""
    command = [venv_tool("copier"), "copy", "--quiet", "--defaults", *options]
    run(
        [*command, str(template), str(destination)],
        ROOT,
        env={"COPIER_SETTINGS_PATH": str(settings)},
    )
    return destination


@pytest.mark.parametrize("answers", [team_answers(), settings_defaults()], ids=["team", "settings"])
def test_examples_answer_real_questions_with_accepted_values(answers: dict[str, Any]) -> None:
    for name, value in answers.items():
        assert name in questions(), f"{name} is not a question of copier.yml"
        spec = questions()[name]
        if spec["type"] == "bool" or "choices" in spec:
            assert value in choices_of(name), f"{name}: {value!r}"


def test_user_settings_are_the_defaults(template: Path, tmp_path: Path) -> None:
    project = copier_copy(template, tmp_path / "project", settings=EXAMPLES / "settings.yml")
    recorded = read_answers(project)
    assert {name: recorded[name] for name in settings_defaults()} == settings_defaults()


def test_team_data_file_answers_land_and_record(template: Path, tmp_path: Path) -> None:
    """The data file beats user settings; --data beats the data file for one project."""
    settings = tmp_path / "settings.yml"
    settings.write_text(
        "defaults:\n  author_name: Jane Doe\n  python_version: '3.13'\n", encoding="utf-8"
    )
    options = ["--data-file", str(EXAMPLES / "team.yml"), "--data", "project_name=Churn Model"]
    project = copier_copy(
        template, tmp_path / "project", *options, "--data", "license=MIT", settings=settings
    )

    recorded = read_answers(project)
    assert {name: recorded[name] for name in team_answers()} == {**team_answers(), "license": "MIT"}
    assert (recorded["project_name"], recorded["project_slug"]) == ("Churn Model", "churn-model")
    assert (project / ".gitlab-ci.yml").is_file()
    assert (project / "deploy" / "base" / "kustomization.yaml").is_file()
    assert 'requires-python = ">=3.12"' in (project / "pyproject.toml").read_text(encoding="utf-8")
