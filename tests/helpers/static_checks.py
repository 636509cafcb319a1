"""Static checks of a render: what every rendered file must satisfy without installing it.

The quick layer runs ``static_problems`` on each of its renders and on every hostile answer
set that Copier accepts.
"""

import ast
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

from .delivery import dockerfile_word
from .rendering import expected_files, files_of, run, venv_tool

# A Jinja tag left in a rendered file. GitHub Actions' `${{ expr }}` is not Jinja.
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|\{#|\.jinja\b")
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
