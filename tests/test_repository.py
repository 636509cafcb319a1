"""Quick layer: this repository keeps the standard it sets for generated projects."""

import re
import tomllib
from datetime import date
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from helpers.rendering import COPIER_YML, ROOT, run, venv_tool

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=" ".join,
)
def test_repository_code_is_clean(command: list[str]) -> None:
    run([venv_tool(command[0]), *command[1:]], ROOT)


def test_linters_match_the_generated_projects_pins() -> None:
    """The quick layer lints renders with this repository's ruff: it must be the same one."""
    pinned = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    ours = {re.split("==", r)[0]: r for r in pinned["dependency-groups"]["dev"] if "==" in r}
    config = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))
    generated = config["dev_dependencies"]["default"]
    for tool in ("ruff", "mypy"):
        assert f"- {ours[tool]}\n" in generated, f"{tool}: {ours[tool]} is not what renders pin"


def test_ci_runs_the_readme_test_command() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.search(r"```bash\n(.*?)```", quick_start, re.DOTALL)
    assert commands, "README.md's quick start has no bash block"
    lines = commands.group(1).strip().splitlines()
    assert len(lines) == 2, "the quick start has exactly two set-up commands"
    assert lines[0].startswith('pip install "copier')
    assert "copier copy --defaults" in lines[0]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert lines[1] in ci.splitlines(), ".ci/run must run the README's test command"


def test_renders_pin_the_uv_this_suite_runs() -> None:
    """The full layer stands in for the Dockerfile's and CI's uv with this suite's own uv."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    (locked,) = [package["version"] for package in lock["package"] if package["name"] == "uv"]
    config = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))
    assert config["uv_version"]["default"] == locked


def test_renders_pin_the_copier_this_suite_runs() -> None:
    """The scheduled template update runs `uvx copier@<copier_version>`; its tests use ours."""
    config = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))
    assert config["copier_version"]["default"] == version("copier")
    assert f"uvx copier@{version('copier')} update" in README


CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
RELEASE_HEADING = re.compile(
    r"^## \[(?P<version>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?$", re.M
)


def test_changelog_keeps_a_changelog_and_names_this_release() -> None:
    """Releases newest first, each `## [X.Y.Z] - YYYY-MM-DD` with an Updating section.

    The newest is the version in pyproject.toml: a release bumps both (README.md, Releases).
    """
    headings = list(RELEASE_HEADING.finditer(CHANGELOG))
    assert headings, "CHANGELOG.md has no release heading"
    assert (headings[0]["version"], headings[0]["date"]) == ("Unreleased", None)
    releases = headings[1:]
    assert releases, "CHANGELOG.md has no release"
    versions = []
    for heading, following in zip(releases, [*releases[1:], None], strict=True):
        assert re.fullmatch(r"\d+\.\d+\.\d+", heading["version"]), heading.group()
        assert heading["date"], f"{heading.group()}: no date"
        date.fromisoformat(heading["date"])
        body = CHANGELOG[heading.end() : following.start() if following else len(CHANGELOG)]
        assert "\n### Updating\n" in body, f"{heading.group()}: no Updating section"
        versions.append(Version(heading["version"]))
    assert versions == sorted(versions, reverse=True), "releases are not newest first"
    assert len(set(versions)) == len(versions)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert str(versions[0]) == pyproject["project"]["version"]


def test_min_copier_version_is_the_quick_starts() -> None:
    """The quick start installs the oldest Copier the template accepts, and no older."""
    config = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))
    oldest = Version(config["_min_copier_version"])
    required = re.search(r'pip install "copier>=([\d.]+)"', README)
    assert required, "the quick start does not pin a minimum Copier"
    assert Version(required.group(1)) == oldest
    assert oldest >= Version("9.13"), "copier check-update, which the template uses, is 9.13+"
    assert Version(version("copier")) >= oldest


GROUPED_TESTS = """
import pytest

@pytest.mark.xdist_group("one")
@pytest.mark.parametrize("i", range(6))
def test_grouped(i):
    pass
"""


def test_xdist_groups_still_keep_a_group_on_one_worker(tmp_path: Path) -> None:
    """The full and update layers install each render once because its group runs on one worker.

    pytest 9.2 drops the ``@group`` suffix pytest-xdist 3.8 relies on (pytest-xdist#1386),
    and then every grouped test runs alone, installing its render again. pyproject.toml keeps
    pytest below 9.2 for that; this fails if an upgrade brings the problem back.
    """
    (tmp_path / "test_grouped.py").write_text(GROUPED_TESTS, encoding="utf-8")
    command = [venv_tool("pytest"), "-n", "2", "--dist=loadgroup", "-v", "-p", "no:cacheprovider"]
    output = run([*command, "test_grouped.py"], tmp_path).stdout
    passed = re.findall(r"\[(gw\d)\] .*PASSED (\S+)", output)
    assert len(passed) == 6, output
    assert all(node.endswith("@one") for _, node in passed), output
    assert len({worker for worker, _ in passed}) == 1, output


JINJA_STATEMENT_LINE = re.compile(r"\s*\{%-?.*?-?%\}\s*")
JINJA_EXPRESSION = re.compile(r"\{\{.*?\}\}")
JINJA_IF = re.compile(r"\{%-?\s*if\b")


def template_files(*endings: str) -> list[Path]:
    """Return the files of ``template/`` and ``includes/`` whose names end in ``endings``."""
    return sorted(
        path
        for folder in ("template", "includes")
        for path in (ROOT / folder).rglob("*")
        if path.name.endswith(endings) and "__pycache__" not in path.parts
    )


PYTHON_TEMPLATES = template_files(".py", ".py.jinja")
# Python template files allowed more than one `{% if %}`, with the count and the reason.
# Each optional feature (serving, MLflow, Ray) adds a section to the settings, which
# pydantic and mypy need declared on the Settings class with the core ones.
MORE_THAN_ONE_IF = {
    "template/src/{{package_name}}/config.py.jinja": 8,
}


def without_jinja(text: str) -> str:
    """Return ``text`` with each Jinja statement line blank and each expression a name.

    Both branches of an ``{% if %}`` stay, so each must be Python on its own terms.
    """
    lines = [
        "" if JINJA_STATEMENT_LINE.fullmatch(line) else JINJA_EXPRESSION.sub("jinja_value", line)
        for line in text.splitlines()
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("path", PYTHON_TEMPLATES, ids=lambda path: str(path.relative_to(ROOT)))
def test_python_template_files_read_as_python(path: Path) -> None:
    """A Python template file is Python wherever it has no Jinja, with few conditions.

    Logic belongs in copier.yml (computed values, ``_exclude``) and in file names; a file
    that needs a condition has one, except those ``MORE_THAN_ONE_IF`` names.
    """
    text = path.read_text(encoding="utf-8")
    relative = str(path.relative_to(ROOT))
    source = text if path.suffix == ".py" else without_jinja(text)
    compile(source, relative, "exec", dont_inherit=True)
    if path.suffix == ".py":
        assert not JINJA_EXPRESSION.search(text), f"{relative} is copied as it is: drop the Jinja"
        assert not JINJA_STATEMENT_LINE.search(text), f"{relative} is copied as it is"
    conditions = len(JINJA_IF.findall(text))
    assert conditions <= MORE_THAN_ONE_IF.get(relative, 1), f"{relative}: {conditions} {{% if %}}"


def test_the_exceptions_to_one_condition_per_file_are_current() -> None:
    """An exception is removed once its file is down to one condition, and counts exactly."""
    for relative, allowed in MORE_THAN_ONE_IF.items():
        text = (ROOT / relative).read_text(encoding="utf-8")
        assert len(JINJA_IF.findall(text)) == allowed, relative


# Text, then a block tag that ends the line: under `trim_blocks` the tag takes the newline
# with it, and the next line is glued on. `+%}` keeps the newline.
TAG_EATS_NEWLINE = re.compile(r"\S.*\{%-?[^%]*?(?<![+-])%\}$")


def test_no_block_tag_after_text_swallows_the_line_break() -> None:
    """A line of text that ends in ``{% endif %}`` keeps its newline (``{% endif +%}``)."""
    glued = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in template_files(".jinja")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if TAG_EATS_NEWLINE.search(line) and not JINJA_STATEMENT_LINE.fullmatch(line)
    ]
    assert not glued, "\n".join(glued)
