"""Quick layer: render many answer sets and check every generated file statically.

One test per answer set runs every static check on its render and reports all problems
at once, so a failure names the answers, the file and what is wrong with it.
"""

import ast
import itertools
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from helpers.rendering import (
    COPIER_YML,
    HOSTILE,
    ROOT,
    answer_sets,
    choices_of,
    files_of,
    is_consistent,
    pairwise_answers,
    read_answers,
    render,
    run,
    uv_binary,
)
from helpers.sharing import Renders
from helpers.static_checks import RUNNING_PYTHON, static_problems

MATRIX = pairwise_answers()
ANSWER_SETS = answer_sets()


@pytest.mark.parametrize("name", list(ANSWER_SETS))
def test_render_is_clean(renders: Renders, name: str) -> None:
    project, recorded = renders[name]
    answers = ANSWER_SETS[name]
    assert {key: recorded.get(key, False) for key in answers} == answers
    problems = static_problems(project, recorded)
    assert not problems, f"answers {answers}:\n" + "\n".join(problems)


def test_matrix_covers_every_pair_of_choices() -> None:
    names = list(MATRIX[0])
    for first, second in itertools.combinations(names, 2):
        wanted = {
            (a, b)
            for a in choices_of(first)
            for b in choices_of(second)
            if is_consistent({first: a, second: b})
        }
        seen = {(row[first], row[second]) for row in MATRIX}
        assert wanted <= seen, f"{first} x {second}: never rendered {wanted - seen}"
    assert all(is_consistent(row) for row in MATRIX)
    assert len(MATRIX) < 30, "the covering array should stay small"


def test_renders_are_byte_identical(renders: Renders, template: Path, tmp_path: Path) -> None:
    first, _ = renders["all-on"]
    second = render(template, tmp_path / "second", ANSWER_SETS["all-on"])
    first_files = {p.relative_to(first): p.read_bytes() for p in files_of(first)}
    second_files = {p.relative_to(second): p.read_bytes() for p in files_of(second)}
    assert first_files == second_files


def test_hostile_answers_land_verbatim(renders: Renders) -> None:
    project, _ = renders["hostile"]
    name, description, author = (
        HOSTILE[key] for key in ("project_name", "description", "author_name")
    )
    metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert metadata["description"] == description
    assert metadata["authors"] == [{"name": author, "email": "you@example.com"}]
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert f"# {name}\n" in readme
    assert f"\n{description}\n" in readme
    assert f"Copyright (c) {read_answers(project)['copyright_year']} {author}\n" in (
        project / "LICENSE"
    ).read_text(encoding="utf-8")
    package = project / "src" / read_answers(project)["package_name"] / "__init__.py"
    docstring = ast.get_docstring(ast.parse(package.read_text(encoding="utf-8")))
    assert docstring == f"{name}.\n\n{description}"
    assert {key: read_answers(project)[key] for key in HOSTILE} == HOSTILE


def test_every_imported_library_is_a_refused_package_name(renders: Renders) -> None:
    """A package named like a library the project imports would shadow it (or be shadowed).

    The package_name validator refuses the names in includes/shadowed-modules.txt: every
    third-party module a render imports must be there.
    """
    refused = set((ROOT / "includes" / "shadowed-modules.txt").read_text().split())
    # This interpreter parses the renders for its own Python; they cover every option.
    parsed = {
        name: render
        for name, render in renders.items()
        if render[1]["python_version"] == RUNNING_PYTHON
    }
    for question in ("ml_framework", "experiment_tracking", "data_versioning", "serving"):
        assert {answers[question] for _, answers in parsed.values()} == set(choices_of(question))
    for name, (project, answers) in parsed.items():
        imported = set()
        for path in project.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.partition(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.partition(".")[0])
        third_party = imported - set(sys.stdlib_module_names) - {answers["package_name"]}
        assert third_party <= refused, f"{name}: add {sorted(third_party - refused)}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["defaults", "all-on"])
def test_the_oldest_accepted_copier_renders_the_same_files(
    renders: Renders, template: Path, tmp_path: Path, name: str
) -> None:
    """Copier ``_min_copier_version`` (installed by uv) renders what this session's Copier does."""
    oldest = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))["_min_copier_version"]
    project, _ = renders[name]
    data = [f"--data={key}={value}" for key, value in ANSWER_SETS[name].items()]
    copier = [uv_binary(), "tool", "run", "--from", f"copier=={oldest}", "copier"]
    run(
        [*copier, "copy", "--quiet", "--defaults", *data, str(template), str(tmp_path / "old")],
        tmp_path,
    )
    old = {p.relative_to(tmp_path / "old"): p.read_bytes() for p in files_of(tmp_path / "old")}
    assert old == {p.relative_to(project): p.read_bytes() for p in files_of(project)}


def test_classifiers_list_every_supported_python(template: Path, tmp_path: Path) -> None:
    supported = choices_of("python_version")
    for oldest in ("3.11", "3.13"):
        project = render(template, tmp_path / oldest, {"python_version": oldest})
        pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        listed = [
            c.rsplit(" ", 1)[-1]
            for c in pyproject["project"]["classifiers"]
            if c.startswith("Programming Language :: Python :: 3.")
        ]
        assert listed == supported[supported.index(oldest) :]
        assert pyproject["project"]["requires-python"] == f">={oldest}"
        assert pyproject["tool"]["ruff"]["target-version"] == "py" + oldest.replace(".", "")
        assert pyproject["tool"]["mypy"]["python_version"] == oldest
