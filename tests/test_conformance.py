"""Quick layer: the conformance check (``copier-ml-conformance``, src/copier_ml).

Fresh renders meet the standard and the standard is what the template renders; renders
made to drift fail exactly the check each drift concerns, and changes that keep the
standard fail none; template versions are read from the release history's tags; the
command prints a table or JSON and exits 1 when a project is below the standard (or, with
``--fail-outdated``, behind the newest release).
"""

import json
import re
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from copier_ml import standard
from copier_ml.conformance import (
    CHECKS,
    check_project,
    covers,
    git_url,
    latest_release,
    run_check,
    tag_of,
    template_status,
)
from lifecycle import NEWEST, RELEASES, generate, replace_once
from rendering import RENDERS_GROUP, Render, git, run, template_repository, venv_tool


def failures(project: Path) -> dict[str, list[str]]:
    """Return the problems of each check that fails on ``project``."""
    found = {name: check(project) for name, check in CHECKS.items()}
    return {name: problems for name, problems in found.items() if problems}


# --- Fresh renders ----------------------------------------------------------------------


@pytest.mark.xdist_group(RENDERS_GROUP)
def test_every_render_meets_the_standard(renders: dict[str, Render]) -> None:
    """The defaults, hostile answers, every boolean on and every pair of choices.

    These renders come from a folder, not a Git repository, so Copier records no `_commit`
    (and could not update them): the answers check says so, and nothing else fails but the
    CI check of the renders without CI.
    """
    for name, (project, answers) in renders.items():
        expected = {"answers": [".copier-answers.yml does not record _commit"]}
        if answers["ci_provider"] == "none":
            expected["ci"] = ["no CI: ci_provider is none"]
        assert failures(project) == expected, name


@pytest.mark.xdist_group(RENDERS_GROUP)
def test_the_standard_is_what_the_template_renders(renders: dict[str, Render]) -> None:
    project, answers = renders["defaults"]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    lint = pyproject["tool"]["ruff"]["lint"]
    assert tuple(lint["select"]) == standard.RUFF_SELECT
    assert tuple(lint["ignore"]) == standard.RUFF_IGNORE
    per_file = {
        pattern.format(package=answers["package_name"]): list(codes)
        for pattern, codes in standard.RUFF_PER_FILE_IGNORES.items()
    }
    assert lint["per-file-ignores"] == per_file
    mypy = pyproject["tool"]["mypy"]
    assert mypy["strict"] is True
    assert tuple(mypy["files"]) == standard.MYPY_FILES
    assert tuple(mypy["enable_error_code"]) == standard.MYPY_ENABLED_ERROR_CODES
    assert all(mypy[flag] is value for flag, value in standard.MYPY_EXTRA_FLAGS.items())
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    everywhere = [h for h in hooks["repos"][0]["hooks"] if h["id"] in standard.PRE_COMMIT_HOOKS]
    optional = {
        h["id"]: h["entry"]
        for h in hooks["repos"][0]["hooks"]
        if h["id"] not in standard.PRE_COMMIT_HOOKS
    }
    assert {h["id"]: h["entry"] for h in everywhere} == standard.PRE_COMMIT_HOOKS
    assert optional == standard.OPTIONAL_PRE_COMMIT_HOOKS, "the defaults have every option"
    assert {h["id"]: h["exclude"] for h in everywhere if "exclude" in h} == (
        standard.PRE_COMMIT_EXCLUDES
    )
    assert not any("files" in h or "stages" in h for h in everywhere)


def test_the_strict_flags_are_those_mypy_names() -> None:
    """Mypy --help lists what --strict enables; the standard must know each of them."""
    mypy_help = run([venv_tool("mypy"), "--help"], Path.cwd()).stdout
    listed = mypy_help.split("--strict ", 1)[1].split("--disable-error-code", 1)[0]
    unwrapped = " ".join(listed.split()).replace("- ", "-")  # help wraps words at hyphens
    flags = {f.replace("-", "_").removeprefix("no_") for f in re.findall(r"--([\w-]+)", unwrapped)}
    assert flags == set(standard.MYPY_STRICT_FLAGS)


# --- Drift ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def base(history: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default project generated from the oldest release, as each drift starts from."""
    return generate(history, RELEASES[0], tmp_path_factory.mktemp("conformance") / "base")


def add_to_table(table: str, lines: str) -> Callable[[Path], None]:
    """Return a drift that adds ``lines`` at the start of a pyproject table."""
    return lambda p: replace_once(p / "pyproject.toml", f"\n{table}\n", f"\n{table}\n{lines}\n")


def replace(relative: str, old: str, new: str) -> Callable[[Path], None]:
    """Return a drift that replaces ``old`` in one file."""
    return lambda p: replace_once(p / relative, old, new)


def write(relative: str, text: str) -> Callable[[Path], None]:
    """Return a drift that writes a file."""

    def change(project: Path) -> None:
        (project / relative).write_text(text, encoding="utf-8")

    return change


def append(relative: str, text: str) -> Callable[[Path], None]:
    """Return a drift that adds ``text`` at the end of a file."""

    def change(project: Path) -> None:
        path = project / relative
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")

    return change


def delete(relative: str) -> Callable[[Path], None]:
    """Return a drift that deletes a file."""
    return lambda p: (p / relative).unlink()


def both(first: Callable[[Path], None], second: Callable[[Path], None]) -> Callable[[Path], None]:
    """Return a drift made of two changes."""

    def change(project: Path) -> None:
        first(project)
        second(project)

    return change


TESTS_IGNORES = '"tests/**" = ["D", "FBT001", "PLR0913", "PLR0917", "S101", "SLF001"]'
OVERRIDE = '\n[[tool.mypy.overrides]]\nmodule = ["my_ml_project.cli"]\nignore_errors = true\n'
MYPY_HOOK = """      - id: mypy
        name: mypy (strict, whole project)
        entry: uv run --frozen mypy
        language: unsupported
        types_or: [python, pyi]
        pass_filenames: false
        require_serial: true
"""
# Each drift, the one check it must fail, and the problem that check must report.
DRIFTS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "mypy-strict-off": (replace("pyproject.toml", "\nstrict = true", "\nstrict = false"), "mypy", "strict = true is not set"),
    "mypy-flag-off": (add_to_table("[tool.mypy]", "disallow_untyped_defs = false"), "mypy", "sets disallow_untyped_defs = false"),
    "mypy-reexport": (add_to_table("[tool.mypy]", "implicit_reexport = true"), "mypy", "sets implicit_reexport = true"),
    "mypy-code-off": (add_to_table("[tool.mypy]", 'disable_error_code = ["no-any-return"]'), "mypy", "disables error codes no-any-return"),
    "mypy-override": (append("pyproject.toml", OVERRIDE), "mypy", "the override for my_ml_project.cli sets ignore_errors = true"),
    "mypy-override-unreachable": (append("pyproject.toml", OVERRIDE.replace("ignore_errors", "warn_unreachable").replace("true", "false")), "mypy", "the override for my_ml_project.cli sets warn_unreachable = false, which the standard forbids"),
    "mypy-unreachable-off": (replace("pyproject.toml", "warn_unreachable = true", "warn_unreachable = false"), "mypy", "sets warn_unreachable = false, which the standard forbids"),
    "mypy-files": (replace("pyproject.toml", 'files = ["src", "tests", "benchmarks"]', 'files = ["src"]'), "mypy", "files no longer type-checked: tests, benchmarks"),
    "mypy-ini": (write("mypy.ini", "[mypy]\nstrict = True\n"), "mypy", "mypy reads mypy.ini, not pyproject.toml"),
    "mypy-allow-spelling": (add_to_table("[tool.mypy]", "allow_untyped_defs = true"), "mypy", "sets disallow_untyped_defs = false"),
    "mypy-no-spelling": (add_to_table("[tool.mypy]", "no_warn_return_any = true"), "mypy", "sets warn_return_any = false"),
    "mypy-strict-optional": (add_to_table("[tool.mypy]", "strict_optional = false"), "mypy", "sets strict_optional = false"),
    "mypy-exclude": (add_to_table("[tool.mypy]", 'exclude = ["^tests/test_"]'), "mypy", "exclude keeps files from mypy: ['^tests/test_']"),
    "mypy-ini-no-section": (write("mypy.ini", "[mypy-foo.*]\nignore_errors = True\n"), "mypy", "mypy.ini has no mypy settings"),
    "ruff-rule-dropped": (replace("pyproject.toml", '    "D",     # pydocstyle, Google convention\n', ""), "ruff", "rules no longer selected: D"),
    "ruff-ignore": (replace("pyproject.toml", 'ignore = [\n', 'ignore = [\n    "ANN401",\n'), "ruff", "rules ignored beyond the template's: ANN401"),
    "ruff-per-file": (add_to_table("[tool.ruff.lint.per-file-ignores]", '"src/**" = ["S"]'), "ruff", "per-file ignores added for src/**: S"),
    "ruff-per-file-code": (replace("pyproject.toml", '"benchmarks/**" = ["D", "S101", "T201"]', '"benchmarks/**" = ["D", "S", "T201"]'), "ruff", "per-file ignores added for benchmarks/**: S"),
    "ruff-exclude": (add_to_table("[tool.ruff]", 'extend-exclude = ["src/my_ml_project/legacy"]'), "ruff", "extend-exclude keeps files from ruff: src/my_ml_project/legacy"),
    "ruff-toml": (write("ruff.toml", '[lint]\nselect = ["E", "F"]\n'), "ruff", "ruff reads ruff.toml, not pyproject.toml"),
    "ruff-include": (add_to_table("[tool.ruff]", 'include = ["src/**/__init__.py"]'), "ruff", "include narrows the files ruff checks: src/**/__init__.py"),
    "ruff-per-file-twice": (both(replace("pyproject.toml", TESTS_IGNORES, TESTS_IGNORES.replace('"D"', '"D", "ANN"')), add_to_table("[tool.ruff.lint]", 'extend-per-file-ignores = { "tests/**" = ["D"] }')), "ruff", "per-file ignores added for tests/**: ANN"),
    "pre-commit-missing": (delete(".pre-commit-config.yaml"), "pre-commit", ".pre-commit-config.yaml is missing"),
    "pre-commit-hook": (replace(".pre-commit-config.yaml", MYPY_HOOK, ""), "pre-commit", "hooks removed: mypy"),
    "pre-commit-exclude": (replace(".pre-commit-config.yaml", "repos:\n", 'exclude: ".*"\nrepos:\n'), "pre-commit", "exclude at the top level keeps files from every hook: .*"),
    "pre-commit-entry": (replace(".pre-commit-config.yaml", "entry: uv run --frozen mypy\n", "entry: 'true'\n"), "pre-commit", "hook mypy runs 'true', not 'uv run --frozen mypy'"),
    "pre-commit-manual": (replace(".pre-commit-config.yaml", "entry: uv run --frozen mypy\n", "entry: uv run --frozen mypy\n        stages: [manual]\n"), "pre-commit", "hook mypy no longer runs on commit"),
    "ci-missing": (delete(".github/workflows/ci.yml"), "ci", ".github/workflows/ci.yml is missing"),
    "ci-no-tests": (replace(".github/workflows/ci.yml", "run: uv run pytest", "run: uv run python -V"), "ci", "no longer runs: pytest"),
    "ci-swallowed": (replace(".github/workflows/ci.yml", "run: uv run pytest", "run: uv run pytest || true"), "ci", "runs pytest, but its failure no longer fails the pipeline"),
    "answers-missing": (delete(".copier-answers.yml"), "answers", ".copier-answers.yml is missing"),
    "answers-corrupt": (write(".copier-answers.yml", "_commit: [v1.0.0\n"), "answers", ".copier-answers.yml does not parse"),
    "answers-no-commit": (replace(".copier-answers.yml", f"_commit: {RELEASES[0]}\n", ""), "answers", "does not record _commit"),
}  # fmt: skip
# Changes a team may make without leaving the standard.
ALLOWED: dict[str, Callable[[Path], None]] = {
    "select-all": replace("pyproject.toml", "select = [\n", 'select = [\n    "ALL",\n'),
    "more-rules": add_to_table("[tool.ruff.lint]", 'extend-select = ["FURB"]'),
    "narrower-per-file": replace("pyproject.toml", '"benchmarks/**" = ["D", "S101", "T201"]', '"benchmarks/**" = ["D103"]'),
    "untyped-library": append("pyproject.toml", '\n[[tool.mypy.overrides]]\nmodule = ["joblib.*"]\nignore_missing_imports = true\n'),
    "more-hooks": replace(".pre-commit-config.yaml", "      - id: mypy\n", "      - id: codespell\n        name: codespell\n        entry: uv run --frozen codespell\n        language: unsupported\n      - id: mypy\n"),
}  # fmt: skip


@pytest.mark.xdist_group("conformance")
@pytest.mark.parametrize("drift", list(DRIFTS))
def test_each_drift_fails_exactly_its_check(base: Path, tmp_path: Path, drift: str) -> None:
    project = shutil.copytree(base, tmp_path / "project", symlinks=True)
    change, check, problem = DRIFTS[drift]
    change(project)
    found = failures(project)
    assert set(found) == {check}, found
    assert any(problem in line for line in found[check]), found[check]


@pytest.mark.xdist_group("conformance")
@pytest.mark.parametrize("change", list(ALLOWED))
def test_changes_within_the_standard_fail_nothing(base: Path, tmp_path: Path, change: str) -> None:
    project = shutil.copytree(base, tmp_path / "project", symlinks=True)
    ALLOWED[change](project)
    assert failures(project) == {}


ODD_FILES = {
    "repos-empty": (".pre-commit-config.yaml", "repos:\n"),
    "jobs-empty": (".github/workflows/ci.yml", "on: push\njobs:\n"),
    "tool-string": ("pyproject.toml", 'tool = "x"\n'),
    "lint-string": ("pyproject.toml", '[tool.ruff]\nlint = "x"\n[tool.mypy]\nstrict = true\noverrides = 5\n'),
    "backend-string": ("pyproject.toml", '[tool.uv]\nbuild-backend = "x"\n'),
}  # fmt: skip


@pytest.mark.xdist_group("conformance")
@pytest.mark.parametrize("odd", list(ODD_FILES))
def test_files_of_an_odd_shape_are_problems_not_crashes(
    base: Path, tmp_path: Path, odd: str
) -> None:
    project = shutil.copytree(base, tmp_path / "project", symlinks=True)
    relative, text = ODD_FILES[odd]
    (project / relative).write_text(text, encoding="utf-8")
    report = check_project(project, template=str(project))
    assert not report.conformant
    problems = [problem for check in report.checks for problem in check.problems]
    assert not [p for p in problems if p.startswith("cannot be checked")], problems


def test_a_check_that_fails_unexpectedly_is_reported_not_raised(tmp_path: Path) -> None:
    def broken(_: Path) -> list[str]:
        raise RecursionError("too deep")

    verdict = run_check("mypy", broken, tmp_path)
    assert verdict.problems == ("cannot be checked: RecursionError: too deep",)


GITHUB_WORKFLOW = """
on: push
jobs:
  lint:
    steps:
      - run: uv run ruff check
      - run: uv run ruff format --check
        if: false
  types:
    continue-on-error: true
    steps: [{run: uv run mypy}]
  tests:
    if: ${{ false }}
    steps: [{run: uv run pytest}]
"""
GITLAB_PIPELINE = """
stages: [test]
.checks:
  script:
    - uv run ruff check
lint:
  extends: .checks
  script:
    - !reference [.checks, script]
    - uv run ruff format --check
types:
  script: [uv run mypy]
  allow_failure: true
manual-tests:
  script: [uv run pytest]
  when: manual
.hidden-tests:
  script: [uv run pytest]
"""


@pytest.mark.parametrize(
    ("provider", "text"), [("github", GITHUB_WORKFLOW), ("gitlab", GITLAB_PIPELINE)]
)
def test_ci_steps_that_never_run_or_cannot_fail_do_not_count(
    tmp_path: Path, provider: str, text: str
) -> None:
    (tmp_path / ".copier-answers.yml").write_text(f"ci_provider: {provider}\n", encoding="utf-8")
    ci_file = tmp_path / standard.CI_FILES[provider]
    ci_file.parent.mkdir(parents=True, exist_ok=True)
    ci_file.write_text(text, encoding="utf-8")
    path = standard.CI_FILES[provider]
    problems = set(CHECKS["ci"](tmp_path))
    expected = {
        f"{path} runs mypy, but its failure no longer fails the pipeline",
        f"{path} no longer runs: pytest",
    }
    if provider == "github":
        expected.add(f"{path} no longer runs: ruff format --check")
    assert problems == expected


# --- Template versions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recorded", "tag"),
    [("v1.2.0", "v1.2.0"), ("v1.2.0-3-g1a2b3c4", "v1.2.0"), ("1.0", "1.0"), ("1a2b3c4", "1a2b3c4")],
)
def test_recorded_commits_name_their_tag(recorded: str, tag: str) -> None:
    assert tag_of(recorded) == tag


@pytest.mark.parametrize(
    ("selector", "code", "expected"),
    [("ALL", "D", True), ("PL", "PLR2004", True), ("PLR", "PL", False), ("E", "E501", True),
     ("E", "ERA", False), ("C4", "C401", True), ("C4", "C901", False), ("TC", "TC004", True),
     ("TC004", "TC", False), ("S101", "S101", True)],
)  # fmt: skip
def test_rule_selectors_cover_what_ruff_selects(selector: str, code: str, expected: bool) -> None:
    assert covers(selector, code) is expected


def test_template_sources_become_git_urls(tmp_path: Path) -> None:
    assert git_url("gh:acme/copier-ml", tmp_path) == "https://github.com/acme/copier-ml"
    assert git_url("gl:acme/copier-ml", tmp_path) == "https://gitlab.com/acme/copier-ml"
    assert git_url("https://git.example.com/t.git", tmp_path) == "https://git.example.com/t.git"
    assert git_url("../copier-ml", tmp_path / "project") == str(tmp_path / "copier-ml")


@pytest.mark.xdist_group("conformance")
def test_latest_is_the_highest_final_release(history: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    git(tmp_path, "clone", "--quiet", "--mirror", str(history), str(mirror))
    for tag in ("v3.0.0rc1", "nightly", "v2.0.0.dev5"):
        git(mirror, "tag", tag, "main")
    assert latest_release(str(mirror)) == NEWEST
    with pytest.raises(LookupError, match="cannot list the tags"):
        latest_release(str(tmp_path / "nowhere"))


@pytest.mark.xdist_group("conformance")
def test_template_status_compares_with_the_newest_release(
    base: Path, history: Path, tmp_path: Path
) -> None:
    behind = template_status(base, None)
    assert (behind.version, behind.latest, behind.up_to_date) == (RELEASES[0], NEWEST, False)
    assert behind.source == str(history)
    current = generate(history, NEWEST, tmp_path / "current")
    assert template_status(current, None).up_to_date is True
    # --template: the newest release of another repository (here, one with v1.0.0 only).
    other = template_repository(tmp_path / "other", tag=RELEASES[0])
    assert template_status(base, str(other)).up_to_date is True
    # A bare commit is no release: its status is unknown. A `git describe` name counts as
    # the release it follows, so a project on it is behind the newest.
    for commit in ("1234567", f"{RELEASES[0]}-2-g1a2b3c4"):
        unreleased = shutil.copytree(base, tmp_path / commit, symlinks=True)
        replace_once(
            unreleased / ".copier-answers.yml", f"_commit: {RELEASES[0]}", f"_commit: {commit}"
        )
        status = template_status(unreleased, None)
        if commit == "1234567":
            assert status.up_to_date is None
            assert f"'{commit}' is not a release tag" in str(status.error)
        else:
            assert status.up_to_date is False


# --- The command ------------------------------------------------------------------------


def conformance(*arguments: str | Path) -> tuple[int, str]:
    """Run the installed command; return its exit status and output."""
    result = run(
        [venv_tool("copier-ml-conformance"), *map(str, arguments)], Path.cwd(), check=False
    )
    assert not result.stderr, result.stderr
    return result.returncode, result.stdout


@pytest.mark.xdist_group("conformance")
def test_command_reports_json_and_a_table(base: Path, history: Path, tmp_path: Path) -> None:
    drifted = shutil.copytree(base, tmp_path / "drifted", symlinks=True)
    DRIFTS["ruff-rule-dropped"][0](drifted)

    status, output = conformance("--format", "json", base, drifted)
    assert status == 1
    projects = json.loads(output)["projects"]
    assert [p["conformant"] for p in projects] == [True, False]
    assert projects[0]["template"] == {
        "source": str(history),
        "version": RELEASES[0],
        "latest": NEWEST,
        "up_to_date": False,
        "error": None,
    }
    assert projects[1]["checks"]["ruff"] == {
        "ok": False,
        "problems": ["rules no longer selected: D"],
    }
    assert all(check["ok"] for check in projects[0]["checks"].values())

    status, output = conformance(base, drifted)
    assert status == 1
    lines = output.splitlines()
    assert lines[0].split() == [
        "project",
        "template",
        "latest",
        "up",
        "to",
        "date",
        *CHECKS,
        "standard",
    ]
    assert lines[1].split() == [
        str(base),
        RELEASES[0],
        NEWEST,
        "no",
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "meets",
    ]
    assert lines[2].split() == [
        str(drifted),
        RELEASES[0],
        NEWEST,
        "no",
        "ok",
        "ok",
        "FAIL",
        "ok",
        "ok",
        "BELOW",
    ]
    assert f"{drifted}:\n  ruff: rules no longer selected: D\n" in output
    assert lines[-1] == "2 project(s): 1 below the standard, 2 behind the newest template release."


@pytest.mark.xdist_group("conformance")
def test_command_fails_an_outdated_project_only_when_asked(base: Path) -> None:
    assert conformance(base)[0] == 0
    assert conformance("--fail-outdated", base)[0] == 1
