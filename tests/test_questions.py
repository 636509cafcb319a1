"""Quick layer: the questions are a contract. Bad answers are refused, clearly, with no file written."""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.rendering import COPIER_YML, ROOT, questions, read_answers, render, run, venv_tool

REJECTED: list[tuple[dict[str, Any], str]] = [
    ({"project_name": ""}, "project_name must not be empty"),
    ({"project_name": "   "}, "project_name must not be empty"),
    ({"project_name": "two\nlines"}, "project_name must be one line of printable text"),
    ({"project_name": "bell\x07"}, "project_name must be one line of printable text"),
    ({"project_name": "x" * 81}, "project_name must be at most 80 characters long (this one has 81)"),
    ({"project_slug": "My-Project"}, "project_slug must start with a lowercase letter"),
    ({"project_slug": "1st-project"}, "project_slug must start with a lowercase letter"),
    ({"project_slug": "double--hyphen"}, "project_slug must start with a lowercase letter"),
    ({"project_slug": "trailing-"}, "project_slug must start with a lowercase letter"),
    ({"project_slug": "under_score"}, "project_slug must start with a lowercase letter"),
    ({"project_slug": "a" * 51}, "project_slug must be at most 50 characters long"),
    # `$` would accept a final newline (a YAML block scalar in a data file adds one).
    ({"project_slug": "my-project\n"}, "project_slug must start with a lowercase letter"),
    ({"project_name": "3D Vision"}, 'project_slug must start with a lowercase letter and contain only lowercase letters, digits and single hyphens, like "my-ml-project" (got "3d-vision")'),
    ({"package_name": "my-package"}, "package_name must be a lowercase Python identifier"),
    ({"package_name": "Package"}, "package_name must be a lowercase Python identifier"),
    ({"package_name": "_private"}, "package_name must be a lowercase Python identifier"),
    ({"package_name": "naïve"}, "package_name must be a lowercase Python identifier"),
    ({"package_name": "foox\n"}, "package_name must be a lowercase Python identifier"),
    ({"package_name": "class"}, 'package_name "class" is a Python keyword'),
    ({"package_name": "json"}, 'package_name "json" is a standard-library module'),
    ({"package_name": "test"}, 'package_name "test" is a standard-library module'),
    ({"package_name": "typing"}, 'package_name "typing" is a standard-library module'),
    ({"package_name": "numpy"}, 'package_name "numpy" is the import name of a module'),
    ({"package_name": "tests"}, 'package_name "tests" is the import name of a module'),
    ({"package_name": "skops"}, 'package_name "skops" is the import name of a module'),
    ({"package_name": "pytest_benchmark"}, 'package_name "pytest_benchmark" is the import name'),
    ({"package_name": "p" * 41}, "package_name must be at most 40 characters long"),
    ({"description": "first line\nsecond line"}, "description must be one line of printable text"),
    ({"description": "a\ttab"}, "description must be one line of printable text"),
    ({"description": "line\u2028separator"}, "description must be one line of printable text"),
    ({"author_name": ""}, "author_name must not be empty"),
    ({"author_name": "Jane\rDoe"}, "author_name must be one line of printable text"),
    ({"author_email": "not-an-address"}, 'author_email must be an e-mail address like "jane@example.com"'),
    ({"author_email": "jane@localhost"}, "author_email must be an e-mail address"),
    ({"author_email": "jane doe@example.com"}, "author_email must be an e-mail address"),
    ({"author_email": 'jane"@example.com'}, "author_email must be an e-mail address"),
    ({"author_email": "jane@example.com\n"}, "author_email must be an e-mail address"),
    ({"license": "WTFPL"}, "Invalid choice for 'license': 'WTFPL' is not in ['MIT', 'Apache-2.0', 'BSD-3-Clause', 'GPL-3.0-or-later', 'Proprietary']"),
    ({"copyright_year": 1969}, "copyright_year must be a four-digit year from 1970 on"),
    ({"python_version": "3.10"}, "Invalid choice for 'python_version': '3.10' is not in ['3.11', '3.12', '3.13', '3.14']"),
    ({"ml_framework": "tensorflow", "python_version": "3.14"}, 'ml_framework "tensorflow" needs python_version 3.13 or older'),
    ({"ml_framework": "jax"}, "Invalid choice for 'ml_framework': 'jax' is not in ['sklearn', 'pytorch', 'tensorflow', 'none']"),
    ({"experiment_tracking": "wandb"}, "Invalid choice for 'experiment_tracking'"),
    ({"data_versioning": "lakefs"}, "Invalid choice for 'data_versioning'"),
    ({"ci_provider": "jenkins"}, "Invalid choice for 'ci_provider': 'jenkins' is not in ['github', 'gitlab', 'none']"),
    ({"docker": False, "kubernetes": True}, "kubernetes needs docker=true"),
]  # fmt: skip

ACCEPTED: list[dict[str, Any]] = [
    {"project_name": "A", "project_slug": "a", "package_name": "a"},
    {"project_name": "x" * 80, "project_slug": "x" * 50, "package_name": "x_2"},
    {"package_name": "json_tools"},
    {"author_email": "first.last+ml@sub.example.co.uk"},
    {"description": ""},
    {"copyright_year": "1970"},
]


def question_of(message: str) -> str:
    """Return the question a Copier error message is about."""
    found = re.search(r"question '(\w+)'|choice for '(\w+)'", message)
    assert found, message
    return found.group(1) or found.group(2)


@pytest.mark.parametrize(("answers", "message"), REJECTED, ids=lambda v: repr(v)[:40])
def test_bad_answer_is_refused_and_nothing_is_written(
    template: Path, tmp_path: Path, answers: dict[str, Any], message: str
) -> None:
    destination = tmp_path / "project"
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        render(template, destination, answers)
    # The message names the question it is about (the one answered, or derived from it).
    assert question_of(str(error.value)) in questions()
    assert not destination.exists()


@pytest.mark.parametrize("answers", ACCEPTED, ids=lambda v: repr(v)[:40])
def test_edge_answers_are_accepted(template: Path, tmp_path: Path, answers: dict[str, Any]) -> None:
    project = render(template, tmp_path / "project", answers)
    recorded = read_answers(project)
    assert {name: recorded[name] for name in answers} == answers


def test_cli_refusal_exits_non_zero_with_the_message(template: Path, tmp_path: Path) -> None:
    destination = tmp_path / "project"
    command = [venv_tool("copier"), "copy", "--defaults", "--data", "project_slug=Bad Slug"]
    result = subprocess.run(  # noqa: S603 - fixed command, no shell
        [*command, str(template), str(destination)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "Validation error for question 'project_slug'" in result.stderr
    assert "lowercase letters, digits and single hyphens" in result.stderr
    assert not destination.exists()


def test_every_question_has_help_and_a_default() -> None:
    for name, spec in questions().items():
        assert spec.get("help", "").strip(), f"{name} has no help text"
        assert "default" in spec, f"{name} has no default: `copier copy --defaults` needs one"


def test_template_needs_no_trust() -> None:
    config = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))
    assert not {"_tasks", "_migrations", "_jinja_extensions"} & set(config)


def test_readme_documents_every_question() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in questions() if f"| `{name}` |" not in readme]
    assert not missing, f"README.md's question table lacks {missing}"


def test_readme_quick_start_renders_this_checkout(tmp_path: Path) -> None:
    """The README's first command, verbatim but for the destination: Git checkout, defaults.

    It names this checkout by its absolute path ("$PWD"): Copier records the source as given,
    and `copier update` from the project must find the template again.
    """
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"^pip install \S+ && copier (copy .+) \S+$", readme, re.MULTILINE)
    assert command, "README.md's quick start has no `copier copy` command"
    assert command.group(1).endswith(' "$PWD"'), "the quick start renders this checkout"
    # Run by bash as typed, so "$PWD" expands as in the reader's shell.
    run(["bash", "-c", f"{venv_tool('copier')} {command.group(1)} {tmp_path / 'project'}"], ROOT)
    answers = read_answers(tmp_path / "project")
    assert answers["project_slug"] == "my-ml-project"
    assert answers["_src_path"] == str(ROOT)
