"""Quick layer: render many answer sets and check every generated file statically.

One test per answer set runs every static check on its render and reports all problems
at once, so a failure names the answers, the file and what is wrong with it.
"""

import ast
import itertools
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from delivery import dockerfile_word
from rendering import (
    COPIER_YML,
    HOSTILE,
    RENDERS_GROUP,
    ROOT,
    Render,
    answer_sets,
    choices_of,
    expected_files,
    files_of,
    is_consistent,
    pairwise_answers,
    read_answers,
    render,
    run,
    uv_binary,
    venv_tool,
)

# A Jinja tag left in a rendered file. GitHub Actions' `${{ expr }}` is not Jinja.
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|\{#|\.jinja\b")
MATRIX = pairwise_answers()
ANSWER_SETS = answer_sets()
RUNNING_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def parse_problems(path: Path, text: str, python_version: str) -> list[str]:
    """Return why a structured file does not parse (nothing when it does).

    Python files are compiled by this interpreter when the render targets its version;
    renders for newer Pythons may use newer syntax, which ruff (run on every render, with
    the render's target version) parses instead.
    """
    if path.suffix == ".py" and python_version != RUNNING_PYTHON:
        return []
    try:
        match path.suffix:
            case ".toml":
                tomllib.loads(text)
            case ".yml" | ".yaml":
                list(yaml.safe_load_all(text))
            case ".json":
                json.loads(text)
            case ".py":
                ast.parse(text, filename=str(path))
    except (SyntaxError, ValueError, yaml.YAMLError) as error:
        return [f"does not parse: {error}"]
    return []


def layout_problems(text: str) -> list[str]:
    """Return the whitespace defects Jinja leaves behind when its tags are misplaced."""
    problems = []
    if text and not text.endswith("\n"):
        problems.append("does not end with a newline")
    if text.endswith("\n\n"):
        problems.append("ends with blank lines")
    if text.startswith("\n"):
        problems.append("starts with a blank line")
    for number, line in enumerate(text.splitlines(), start=1):
        if line != line.rstrip():
            problems.append(f"line {number} has trailing whitespace")
    if "\n\n\n\n" in text:
        problems.append("has three or more consecutive blank lines")
    return problems


def without_answers(text: str, answers: dict[str, Any]) -> str:
    """Remove free-text answers, raw or escaped, so Jinja-like text in them is not flagged."""
    for name in ("project_name", "description", "author_name"):
        value = answers[name]
        json_form = json.dumps(value, ensure_ascii=False)[1:-1]
        for form in (value, json_form, dockerfile_word(value)[1:-1]):
            for variant in (form, form.strip()):
                if variant:
                    text = text.replace(variant, "")
    return text


def static_problems(project: Path, answers: dict[str, Any]) -> list[str]:
    """Run every static check on a render and return one line per problem."""
    problems = []
    rendered = {path.relative_to(project).as_posix() for path in files_of(project)}
    expected = expected_files(answers)
    problems += [f"{name}: missing" for name in sorted(expected - rendered)]
    problems += [f"{name}: not expected for these answers" for name in sorted(rendered - expected)]
    for path in files_of(project):
        name = path.relative_to(project).as_posix()
        text = path.read_text(encoding="utf-8")
        found = [
            f"{name}: {problem}"
            for problem in parse_problems(path, text, answers["python_version"])
        ]
        found += [f"{name}: {problem}" for problem in layout_problems(text)]
        if name != ".copier-answers.yml":  # written by Copier itself, answers verbatim
            searched = without_answers(text, answers)
            found += [f"{name}: unrendered {m.group()!r}" for m in UNRENDERED.finditer(searched)]
        problems += found
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        result = run([venv_tool("ruff"), *command, "."], project, check=False)
        if result.returncode != 0:
            problems.append(f"ruff {command[0]} failed:\n{result.stdout}{result.stderr}")
    return problems


@pytest.mark.xdist_group(RENDERS_GROUP)
@pytest.mark.parametrize("name", list(ANSWER_SETS))
def test_render_is_clean(renders: dict[str, Render], name: str) -> None:
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


@pytest.mark.xdist_group(RENDERS_GROUP)
def test_renders_are_byte_identical(
    renders: dict[str, Render], template: Path, tmp_path: Path
) -> None:
    first, _ = renders["all-on"]
    second = render(template, tmp_path / "second", ANSWER_SETS["all-on"])
    first_files = {p.relative_to(first): p.read_bytes() for p in files_of(first)}
    second_files = {p.relative_to(second): p.read_bytes() for p in files_of(second)}
    assert first_files == second_files


@pytest.mark.xdist_group(RENDERS_GROUP)
def test_hostile_answers_land_verbatim(renders: dict[str, Render]) -> None:
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


@pytest.mark.xdist_group(RENDERS_GROUP)
def test_every_imported_library_is_a_refused_package_name(renders: dict[str, Render]) -> None:
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
@pytest.mark.xdist_group(RENDERS_GROUP)
@pytest.mark.parametrize("name", ["defaults", "all-on"])
def test_the_oldest_accepted_copier_renders_the_same_files(
    renders: dict[str, Render], template: Path, tmp_path: Path, name: str
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
