"""The conformance checks (src/copier_ml): a repo-review plugin and the platform's command.

* Each check (``checks.py``) on parsed data: the verdicts that the fixtures' data gives,
  with no project on disk; the readers (``reading.py``, ``ci.py``) on hostile input.
* Projects: fresh renders meet the standard and the standard is what the template renders;
  renders made to drift fail exactly the check each drift concerns, and changes that keep
  the standard fail none; hostile projects are reported, not crashed on, and the run goes
  on with the others.
* The commands: ``copier-ml-conformance`` prints a table or JSON, exits 1 when a project
  is below the standard (or behind the newest release with ``--fail-outdated``) and is not
  silenced by a project's ``[tool.repo-review]``; ``repo-review`` runs the same checks.
"""

import json
import os
import re
import shutil
import signal
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from copier_ml import ci, standard
from copier_ml.checks import (
    CHECKS,
    CML101,
    CML102,
    CML201,
    CML202,
    CML203,
    CML301,
    CML302,
    CML303,
    CML401,
    CML402,
    CML501,
    CML502,
    CML503,
    covers,
    repo_review_checks,
)
from copier_ml.conformance import AREAS, check_project
from copier_ml.fixtures import CiFile, MypySettings, RuffSettings
from copier_ml.reading import (
    MAX_BYTES,
    MAX_DEPTH,
    Loaded,
    Unreadable,
    parse_toml,
    parse_yaml,
    read_text,
)
from copier_ml.releases import git_url, latest_release, tag_of, template_status
from helpers.lifecycle import NEWEST, RELEASES, generate, replace_once
from helpers.rendering import git, run, template_repository, venv_tool
from helpers.sharing import Renders, build_once


def failures(project: Path) -> dict[str, list[str]]:
    """Return the problems of each check that fails on ``project``, by code."""
    report = check_project(project)
    assert report.error is None, report.error
    return {r.code: list(r.problems) for r in report.results if r.ok is False}


# --- Each check on data -----------------------------------------------------------------


def loaded(data: dict[str, Any] | None, name: str = "f.yml", problem: str | None = None) -> Loaded:
    return Loaded(name, data, problem, present=data is not None or problem is not None)


STRICT: dict[str, Any] = {
    "strict": True,
    "warn_unreachable": True,
    "enable_error_code": list(standard.MYPY_ENABLED_ERROR_CODES),
    "files": list(standard.MYPY_FILES),
}
RUFF: dict[str, Any] = {
    "lint": {
        "select": list(standard.RUFF_SELECT),
        "ignore": list(standard.RUFF_IGNORE),
        "per-file-ignores": {
            pattern.format(package="pkg"): list(codes)
            for pattern, codes in standard.RUFF_PER_FILE_IGNORES.items()
        },
    }
}
HOOKS: dict[str, Any] = {
    "repos": [
        {
            "repo": "local",
            "hooks": [
                {"id": hook, "entry": entry}
                | (
                    {"exclude": standard.PRE_COMMIT_EXCLUDES[hook]}
                    if hook in standard.PRE_COMMIT_EXCLUDES
                    else {}
                )
                for hook, entry in standard.PRE_COMMIT_HOOKS.items()
            ],
        }
    ]
}
WORKFLOW: dict[str, Any] = {
    "jobs": {
        "checks": {"steps": [{"run": f"uv run {command}"} for command in standard.CI_COMMANDS]}
    }
}


def mypy(
    settings: dict[str, Any] | None,
    file: str = "pyproject.toml",
    overrides: list[Any] | None = None,
) -> MypySettings:
    return MypySettings(file, settings, overrides or [])


def ruff(config: dict[str, Any] | None, file: str = "pyproject.toml") -> RuffSettings:
    return RuffSettings(file, config, package="pkg")


def github(workflow: dict[str, Any] | None) -> CiFile:
    return CiFile("github", loaded(workflow, standard.CI_FILES["github"]))


# (check, its fixture's value, the verdict: "" passes, None skips, text is the problem)
VERDICTS: dict[str, tuple[Any, Any, str | None]] = {
    "answers-ok": (CML101, loaded({"_commit": "v1"}), ""),
    "answers-missing": (CML101, Loaded(".copier-answers.yml", present=False), ".copier-answers.yml is missing"),
    "answers-unreadable": (CML101, loaded(None, problem="f.yml is not a regular file"), "f.yml is not a regular file"),
    "answers-recorded": (CML102, loaded({"_src_path": "gh:a/b", "_commit": "v1"}), ""),
    "answers-no-source": (CML102, loaded({"_commit": "v1", "_src_path": ""}), ".copier-answers.yml does not record _src_path"),
    "answers-commit-not-text": (CML102, loaded({"_src_path": "x", "_commit": 1.0}), ".copier-answers.yml does not record _commit"),
    "mypy-ok": (CML201, mypy(STRICT), ""),
    "mypy-none": (CML201, mypy(None), "pyproject.toml has no mypy settings: mypy runs without strict mode"),
    "mypy-ini": (CML201, mypy(STRICT, "mypy.ini"), "mypy reads mypy.ini, not pyproject.toml"),
    "mypy-not-strict": (CML201, mypy({**STRICT, "strict": False}), "strict = true is not set"),
    "mypy-flags-ok": (CML202, mypy(STRICT), ""),
    "mypy-flags-skip": (CML202, mypy(None), None),
    "mypy-allow": (CML202, mypy({**STRICT, "allow_untyped_calls": True}), "sets disallow_untyped_calls = false, which the standard forbids"),
    "mypy-no": (CML202, mypy({**STRICT, "no_implicit_reexport": False}), "sets implicit_reexport = true, which the standard forbids"),
    "mypy-extra-missing": (CML202, mypy({k: v for k, v in STRICT.items() if k != "warn_unreachable"}), "warn_unreachable = true is not set"),
    "mypy-codes": (CML202, mypy({**STRICT, "enable_error_code": "truthy-bool"}), "error codes no longer enabled: ignore-without-code, redundant-expr, possibly-undefined"),
    "mypy-override": (CML202, mypy(STRICT, overrides=[{"module": ["a.*", "b"], "check_untyped_defs": False}]), "the override for a.*, b sets check_untyped_defs = false, which the standard forbids"),
    "mypy-override-fine": (CML202, mypy(STRICT, overrides=[{"module": "a.*", "ignore_missing_imports": True}]), ""),
    "mypy-files": (CML203, mypy({**STRICT, "files": "src, tests"}), "files no longer type-checked: benchmarks"),
    "mypy-exclude": (CML203, mypy({**STRICT, "exclude": "^build/"}), "exclude keeps files from mypy: ^build/"),
    "ruff-ok": (CML301, ruff(RUFF), ""),
    "ruff-none": (CML301, ruff(None), "pyproject.toml has no ruff settings: ruff runs its few default rules"),
    "ruff-all": (CML301, ruff({"lint": {"select": ["ALL"]}}), ""),
    "ruff-default": (CML301, ruff({"line-length": 80}), "rules no longer selected: " + ", ".join(c for c in standard.RUFF_SELECT if c not in {"F"})),
    "ruff-top-level-select": (CML301, ruff({"select": ["E", "F"], "extend-select": [c for c in standard.RUFF_SELECT if c not in {"E", "F", "W"}]}), "rules no longer selected: W"),
    "ruff-extend": (CML301, ruff({**RUFF, "extend": "../base.toml"}), "settings come partly from ../base.toml, which this check does not read"),
    "ruff-ignore-ok": (CML302, ruff(RUFF), ""),
    "ruff-ignore-skip": (CML302, ruff(None), None),
    "ruff-ignore-more": (CML302, ruff({"lint": {"extend-ignore": ["E501", "B"]}}), "rules ignored beyond the template's: B"),
    "ruff-per-file-other": (CML302, ruff({"lint": {"per-file-ignores": {"src/pkg/x.py": ["T201"]}}}), "per-file ignores added for src/pkg/x.py: T201"),
    "ruff-exclude-ok": (CML303, ruff(RUFF), ""),
    "ruff-lint-exclude": (CML303, ruff({"lint": {"exclude": ["gen/*"]}}), "lint.exclude keeps files from ruff: gen/*"),
    "ruff-include-wider": (CML303, ruff({"include": ["*.py", "*.pyi", "*.ipynb", "**/pyproject.toml", "*.pyw"]}), ""),
    "hooks-ok": (CML401, loaded(HOOKS), ""),
    "hooks-missing-file": (CML401, Loaded(".pre-commit-config.yaml", present=False), ".pre-commit-config.yaml is missing"),
    "hooks-top-files": (CML401, loaded({**HOOKS, "files": "^src/"}), "files at the top level keeps files from every hook: ^src/"),
    "hooks-as-template": (CML402, loaded(HOOKS), ""),
    "hooks-skip": (CML402, loaded(None, problem="x"), None),
    "hooks-files": (CML402, loaded({"repos": [{"hooks": [{"id": "mypy", "entry": standard.PRE_COMMIT_HOOKS["mypy"], "files": "^src/"}]}]}), "hook mypy no longer sees the files the template gives it"),
    "hooks-optional-entry": (CML402, loaded({"repos": [{"hooks": [{"id": "zizmor", "entry": "true"}]}]}), f"hook zizmor runs 'true', not {standard.OPTIONAL_PRE_COMMIT_HOOKS['zizmor']!r}"),
    "hooks-stages-ok": (CML402, loaded({"repos": [{"hooks": [{"id": "mypy", "entry": standard.PRE_COMMIT_HOOKS["mypy"], "stages": ["pre-commit", "pre-push"]}]}]}), ""),
    "ci-ok": (CML501, github(WORKFLOW), ""),
    "ci-none": (CML501, CiFile("none"), "no CI: ci_provider is none"),
    "ci-runs-all": (CML502, github(WORKFLOW), ""),
    "ci-enforced": (CML503, github(WORKFLOW), ""),
    "ci-exit-zero": (CML503, github({"jobs": {"j": {"steps": [{"run": "uv run ruff check --exit-zero"}]}}}), ".github/workflows/ci.yml runs ruff check, but its failure no longer fails the pipeline"),
    "ci-once-enforced": (CML503, github({"jobs": {"j": {"steps": [{"run": "uv run mypy || true"}, {"run": "uv run mypy"}]}}}), ""),
}  # fmt: skip


@pytest.mark.parametrize("case", list(VERDICTS))
def test_each_check_on_data(case: str) -> None:
    check, value, expected = VERDICTS[case]
    assert check.check(value) == expected


def test_the_plugin_offers_every_check_with_its_code_and_family() -> None:
    offered = repo_review_checks()
    assert list(offered) == [check.__name__ for check in CHECKS]
    assert all(re.fullmatch(r"CML[1-5]\d\d", code) for code in offered)
    assert {code[3] for code in offered} == set(AREAS)
    assert {check.family for check in offered.values()} == {"copier-ml"}
    assert all(check.__doc__ and check.check.__doc__ for check in offered.values())


GITHUB_WORKFLOW = """
on: push
jobs:
  lint:
    env: {A: 1}
    steps:
      - run: uv run ruff check
        env: {B: two}
      - run: uv run ruff format --check
        if: false
      - uses: actions/checkout@v6
  types:
    continue-on-error: true
    steps: [{run: uv run mypy}]
  tests:
    if: ${{ false }}
    steps: [{run: uv run pytest}]
"""
GITLAB_PIPELINE = """
stages: [test]
variables: {A: "1"}
.checks:
  script:
    - uv run ruff check
lint:
  extends: .checks
  variables: {B: two}
  script:
    - !reference [.checks, script]
    - uv run ruff format --check
  after_script: [uv run pytest]
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
def test_ci_steps_that_never_run_or_cannot_fail_do_not_count(provider: str, text: str) -> None:
    config = parse_yaml(text, "ci")
    assert isinstance(config, dict)
    found = {(s.job, s.command): (s.runs, s.may_fail) for s in ci.steps(provider, config)}
    lint = {"A": "1", "B": "two"}
    if provider == "github":
        assert next(s.environment for s in ci.steps(provider, config)) == lint
        assert found == {
            ("lint", "uv run ruff check"): (True, False),
            ("lint", "uv run ruff format --check"): (False, False),
            ("types", "uv run mypy"): (True, True),
            ("tests", "uv run pytest"): (False, False),
        }
    else:
        assert next(s.environment for s in ci.steps(provider, config) if s.job == "lint") == lint
        assert found == {
            (".checks", "uv run ruff check"): (False, False),
            ("lint", "uv run ruff check"): (True, False),
            ("lint", "uv run ruff format --check"): (True, False),
            ("lint", "uv run pytest"): (True, True),  # an after_script cannot fail the job
            ("types", "uv run mypy"): (True, True),
            ("manual-tests", "uv run pytest"): (False, False),
            (".hidden-tests", "uv run pytest"): (False, False),
        }
    path = standard.CI_FILES[provider]
    verdict = CiFile(provider, loaded(config, path))
    problems = set(CML502.check(verdict).splitlines()) | set(CML503.check(verdict).splitlines())
    expected = {
        f"{path} runs mypy, but its failure no longer fails the pipeline",
        f"{path} no longer runs: pytest"
        if provider == "github"
        else f"{path} runs pytest, but its failure no longer fails the pipeline",
    }
    if provider == "github":
        expected.add(f"{path} no longer runs: ruff format --check")
    assert problems == expected


# --- Reading hostile files ----------------------------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    """A YAML document of a few hundred bytes whose aliases expand to 9**levels strings."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_yaml_that_nests_too_deep_or_explodes_is_refused_quickly() -> None:
    with pytest.raises(Unreadable, match=f"nested more than {MAX_DEPTH} levels deep"):
        parse_yaml("[" * 20_000, "answers")
    with pytest.raises(
        Unreadable,
        match=r"ci.yml is refused: its aliases expand it to \d{3},\d{3},\d{3} values, more than 100,000",
    ):
        parse_yaml(billion_laughs(), "ci.yml")
    assert parse_yaml(billion_laughs(levels=3), "small") is not None  # 819 values: fine
    with pytest.raises(Unreadable, match="does not parse"):
        parse_toml("a = " + "[" * 20_000, "pyproject.toml")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_only_regular_files_of_a_sane_size_are_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    with (tmp_path / "sparse").open("wb") as stream:
        stream.truncate(10 * MAX_BYTES)
    (tmp_path / "binary").write_bytes(b"\xff\xfe" * 10)
    for name, problem in [
        ("fifo", "is not a regular file"),
        ("zero", "is not a regular file"),
        ("sparse", f"is larger than {MAX_BYTES:,} bytes"),
        ("binary", "is not UTF-8 text"),
        (".", "is not a regular file"),
    ]:
        with pytest.raises(Unreadable, match=f"^{name} {problem}"):
            read_text(tmp_path / name, name)
    with pytest.raises(FileNotFoundError):
        read_text(tmp_path / "absent", "absent")


# --- Projects: fresh renders --------------------------------------------------------------


def test_every_render_meets_the_standard(renders: Renders) -> None:
    """The defaults, hostile answers, every boolean on and every pair of choices.

    These renders come from a folder, not a Git repository, so Copier records no `_commit`
    (and could not update them): CML102 says so, and nothing else fails but the CI checks
    of the renders without CI.
    """
    for name, (project, answers) in renders.items():
        expected = {"CML102": [".copier-answers.yml does not record _commit"]}
        if answers["ci_provider"] == "none":
            expected["CML501"] = ["no CI: ci_provider is none"]
        assert failures(project) == expected, name


def test_the_standard_is_what_the_template_renders(renders: Renders) -> None:
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
def base(history: Path, shared: Path) -> Path:
    """A default project generated from the oldest release, as each drift starts from.

    Made once per run; each test copies it before changing anything.
    """
    build_once(shared / "conformance", "base", lambda path: generate(history, RELEASES[0], path))
    return shared / "conformance" / "base"


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
# Each drift, the check that must report it, and the problem it must report. Only checks of
# that check's area (the digit after CML) may fail with it.
DRIFTS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "mypy-strict-off": (replace("pyproject.toml", "\nstrict = true", "\nstrict = false"), "CML201", "strict = true is not set"),
    "mypy-flag-off": (add_to_table("[tool.mypy]", "disallow_untyped_defs = false"), "CML202", "sets disallow_untyped_defs = false"),
    "mypy-reexport": (add_to_table("[tool.mypy]", "implicit_reexport = true"), "CML202", "sets implicit_reexport = true"),
    "mypy-code-off": (add_to_table("[tool.mypy]", 'disable_error_code = ["no-any-return"]'), "CML202", "disables error codes no-any-return"),
    "mypy-override": (append("pyproject.toml", OVERRIDE), "CML202", "the override for my_ml_project.cli sets ignore_errors = true"),
    "mypy-override-unreachable": (append("pyproject.toml", OVERRIDE.replace("ignore_errors", "warn_unreachable").replace("true", "false")), "CML202", "the override for my_ml_project.cli sets warn_unreachable = false, which the standard forbids"),
    "mypy-unreachable-off": (replace("pyproject.toml", "warn_unreachable = true", "warn_unreachable = false"), "CML202", "sets warn_unreachable = false, which the standard forbids"),
    "mypy-files": (replace("pyproject.toml", 'files = ["src", "tests", "benchmarks"]', 'files = ["src"]'), "CML203", "files no longer type-checked: tests, benchmarks"),
    "mypy-ini": (write("mypy.ini", "[mypy]\nstrict = True\n"), "CML201", "mypy reads mypy.ini, not pyproject.toml"),
    "mypy-allow-spelling": (add_to_table("[tool.mypy]", "allow_untyped_defs = true"), "CML202", "sets disallow_untyped_defs = false"),
    "mypy-no-spelling": (add_to_table("[tool.mypy]", "no_warn_return_any = true"), "CML202", "sets warn_return_any = false"),
    "mypy-strict-optional": (add_to_table("[tool.mypy]", "strict_optional = false"), "CML202", "sets strict_optional = false"),
    "mypy-exclude": (add_to_table("[tool.mypy]", 'exclude = ["^tests/test_"]'), "CML203", "exclude keeps files from mypy: ['^tests/test_']"),
    "mypy-ini-no-section": (write("mypy.ini", "[mypy-foo.*]\nignore_errors = True\n"), "CML201", "mypy.ini has no mypy settings"),
    "ruff-rule-dropped": (replace("pyproject.toml", '    "D",     # pydocstyle, Google convention\n', ""), "CML301", "rules no longer selected: D"),
    "ruff-ignore": (replace("pyproject.toml", 'ignore = [\n', 'ignore = [\n    "ANN401",\n'), "CML302", "rules ignored beyond the template's: ANN401"),
    "ruff-per-file": (add_to_table("[tool.ruff.lint.per-file-ignores]", '"src/**" = ["S"]'), "CML302", "per-file ignores added for src/**: S"),
    "ruff-per-file-code": (replace("pyproject.toml", '"benchmarks/**" = ["D", "S101", "T201"]', '"benchmarks/**" = ["D", "S", "T201"]'), "CML302", "per-file ignores added for benchmarks/**: S"),
    "ruff-exclude": (add_to_table("[tool.ruff]", 'extend-exclude = ["src/my_ml_project/legacy"]'), "CML303", "extend-exclude keeps files from ruff: src/my_ml_project/legacy"),
    "ruff-toml": (write("ruff.toml", '[lint]\nselect = ["E", "F"]\n'), "CML301", "ruff reads ruff.toml, not pyproject.toml"),
    "ruff-include": (add_to_table("[tool.ruff]", 'include = ["src/**/__init__.py"]'), "CML303", "include narrows the files ruff checks: src/**/__init__.py"),
    "ruff-per-file-twice": (both(replace("pyproject.toml", TESTS_IGNORES, TESTS_IGNORES.replace('"D"', '"D", "ANN"')), add_to_table("[tool.ruff.lint]", 'extend-per-file-ignores = { "tests/**" = ["D"] }')), "CML302", "per-file ignores added for tests/**: ANN"),
    "pre-commit-missing": (delete(".pre-commit-config.yaml"), "CML401", ".pre-commit-config.yaml is missing"),
    "pre-commit-hook": (replace(".pre-commit-config.yaml", MYPY_HOOK, ""), "CML401", "hooks removed: mypy"),
    "pre-commit-exclude": (replace(".pre-commit-config.yaml", "repos:\n", 'exclude: ".*"\nrepos:\n'), "CML401", "exclude at the top level keeps files from every hook: .*"),
    "pre-commit-entry": (replace(".pre-commit-config.yaml", "entry: uv run --frozen mypy\n", "entry: 'true'\n"), "CML402", "hook mypy runs 'true', not 'uv run --frozen mypy'"),
    "pre-commit-manual": (replace(".pre-commit-config.yaml", "entry: uv run --frozen mypy\n", "entry: uv run --frozen mypy\n        stages: [manual]\n"), "CML402", "hook mypy no longer runs on commit"),
    "ci-missing": (delete(".github/workflows/ci.yml"), "CML501", ".github/workflows/ci.yml is missing"),
    "ci-no-tests": (replace(".github/workflows/ci.yml", "run: uv run pytest", "run: uv run python -V"), "CML502", "no longer runs: pytest"),
    "ci-swallowed": (replace(".github/workflows/ci.yml", "run: uv run pytest", "run: uv run pytest || true"), "CML503", "runs pytest, but its failure no longer fails the pipeline"),
    "answers-missing": (delete(".copier-answers.yml"), "CML101", ".copier-answers.yml is missing"),
    "answers-corrupt": (write(".copier-answers.yml", "_commit: [v1.0.0\n"), "CML101", ".copier-answers.yml does not parse"),
    "answers-no-commit": (replace(".copier-answers.yml", f"_commit: {RELEASES[0]}\n", ""), "CML102", "does not record _commit"),
}  # fmt: skip
# Changes a team may make without leaving the standard.
ALLOWED: dict[str, Callable[[Path], None]] = {
    "select-all": replace("pyproject.toml", "select = [\n", 'select = [\n    "ALL",\n'),
    "more-rules": add_to_table("[tool.ruff.lint]", 'extend-select = ["FURB"]'),
    "narrower-per-file": replace("pyproject.toml", '"benchmarks/**" = ["D", "S101", "T201"]', '"benchmarks/**" = ["D103"]'),
    "untyped-library": append("pyproject.toml", '\n[[tool.mypy.overrides]]\nmodule = ["joblib.*"]\nignore_missing_imports = true\n'),
    "more-hooks": replace(".pre-commit-config.yaml", "      - id: mypy\n", "      - id: codespell\n        name: codespell\n        entry: uv run --frozen codespell\n        language: unsupported\n      - id: mypy\n"),
}  # fmt: skip


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_each_drift_fails_exactly_its_check(base: Path, tmp_path: Path, drift: str) -> None:
    project = shutil.copytree(base, tmp_path / "project", symlinks=True)
    change, code, problem = DRIFTS[drift]
    change(project)
    found = failures(project)
    assert {c[:4] for c in found} == {code[:4]}, found
    assert any(problem in line for line in found.get(code, [])), found


@pytest.mark.parametrize("change", list(ALLOWED))
def test_changes_within_the_standard_fail_nothing(base: Path, tmp_path: Path, change: str) -> None:
    project = shutil.copytree(base, tmp_path / "project", symlinks=True)
    ALLOWED[change](project)
    assert failures(project) == {}


# --- Hostile projects ---------------------------------------------------------------------


def nested(project: Path) -> None:
    (project / ".copier-answers.yml").write_text("[" * 20_000, encoding="utf-8")


def linked_to_dev_zero(project: Path) -> None:
    (project / "pyproject.toml").unlink()
    (project / "pyproject.toml").symlink_to("/dev/zero")


def fifo(project: Path) -> None:
    (project / ".copier-answers.yml").unlink()
    os.mkfifo(project / ".copier-answers.yml")


def bomb_in_a_step(project: Path) -> None:
    workflow = project / ".github" / "workflows" / "ci.yml"
    text = billion_laughs() + "jobs:\n  bomb:\n    steps:\n      - run: *a8\n"
    workflow.write_text(text, encoding="utf-8")


def binary(project: Path) -> None:
    (project / "pyproject.toml").write_bytes(bytes(range(256)) * 4)


def huge(project: Path) -> None:
    with (project / "pyproject.toml").open("wb") as stream:
        stream.truncate(10**10)  # 10 GB, sparse


# Each hostile change, and the problem the project's report must hold.
HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "nested-answers": (nested, f"CML101 answers: .copier-answers.yml does not parse: nested more than {MAX_DEPTH} levels deep"),
    "pyproject-to-dev-zero": (linked_to_dev_zero, "CML201 mypy: pyproject.toml is not a regular file"),
    "fifo-answers": (fifo, "CML101 answers: .copier-answers.yml is not a regular file"),
    "alias-bomb": (bomb_in_a_step, "CML501 ci: .github/workflows/ci.yml is refused: its aliases expand it to"),
    "binary-pyproject": (binary, "error: pyproject.toml is not UTF-8 text"),
    "huge-pyproject": (huge, f"error: pyproject.toml is larger than {MAX_BYTES:,} bytes"),
}  # fmt: skip


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev/zero are POSIX")
def test_hostile_projects_are_reported_and_the_run_goes_on(base: Path, tmp_path: Path) -> None:
    """Each hostile project gets its problem; the others, a missing folder, and a fresh one too."""
    projects = []
    for name, (change, _) in HOSTILE.items():
        projects.append(shutil.copytree(base, tmp_path / name, symlinks=True))
        change(projects[-1])
    status, output = conformance(
        "--format", "json", "--timeout", "30", *projects, tmp_path / "absent", base
    )
    assert status == 1
    reports = {Path(r["path"]).name: r for r in json.loads(output)["projects"]}
    assert reports["absent"]["error"] == "not a folder"
    assert reports["base"]["conformant"] is True
    for name, (_, problem) in HOSTILE.items():
        report = reports[name]
        assert report["conformant"] is False, name
        lines = [f"error: {report['error']}"] if report["error"] else []
        lines += [
            f"{code} {c['area']}: {p}"
            for code, c in report["checks"].items()
            for p in c["problems"]
        ]
        assert any(line.startswith(problem) for line in lines), (name, lines)


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the time budget needs SIGALRM")
def test_a_project_past_its_time_budget_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forever(_: Path) -> None:
        while True:
            pass

    monkeypatch.setattr("copier_ml.conformance.run_checks", forever)
    report = check_project(tmp_path, timeout=0.2)
    assert report.error == "took longer than 0.2 seconds"
    assert not report.conformant


def test_a_check_that_crashes_is_the_projects_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_: Path) -> None:
        raise RecursionError("too deep")

    monkeypatch.setattr("copier_ml.conformance.run_checks", broken)
    report = check_project(tmp_path)
    assert report.error == "cannot be checked: RecursionError: too deep"


# --- Template versions ------------------------------------------------------------------


def answers_of(project: Path) -> dict[str, Any]:
    """Return the answers a project records."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert isinstance(answers, dict)
    return answers


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


def test_latest_is_the_highest_final_release(history: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    git(tmp_path, "clone", "--quiet", "--mirror", str(history), str(mirror))
    for tag in ("v3.0.0rc1", "nightly", "v2.0.0.dev5"):
        git(mirror, "tag", tag, "main")
    assert latest_release(str(mirror)) == NEWEST
    with pytest.raises(LookupError, match="cannot list the tags"):
        latest_release(str(tmp_path / "nowhere"))


def test_template_status_compares_with_the_newest_release(
    base: Path, history: Path, tmp_path: Path
) -> None:
    behind = template_status(answers_of(base), base, None)
    assert (behind.version, behind.latest, behind.up_to_date) == (RELEASES[0], NEWEST, False)
    assert behind.source == str(history)
    current = generate(history, NEWEST, tmp_path / "current")
    assert template_status(answers_of(current), current, None).up_to_date is True
    # --template: the newest release of another repository (here, one with v1.0.0 only).
    other = template_repository(tmp_path / "other", tag=RELEASES[0])
    assert template_status(answers_of(base), base, str(other)).up_to_date is True
    # A bare commit is no release: its status is unknown. A `git describe` name counts as
    # the release it follows, so a project on it is behind the newest.
    for commit in ("1234567", f"{RELEASES[0]}-2-g1a2b3c4"):
        unreleased = shutil.copytree(base, tmp_path / commit, symlinks=True)
        replace_once(
            unreleased / ".copier-answers.yml", f"_commit: {RELEASES[0]}", f"_commit: {commit}"
        )
        status = template_status(answers_of(unreleased), unreleased, None)
        if commit == "1234567":
            assert status.up_to_date is None
            assert f"'{commit}' is not a release tag" in str(status.error)
        else:
            assert status.up_to_date is False


# --- The commands -------------------------------------------------------------------------


def conformance(*arguments: str | Path) -> tuple[int, str]:
    """Run the installed command; return its exit status and output."""
    result = run(
        [venv_tool("copier-ml-conformance"), *map(str, arguments)], Path.cwd(), check=False
    )
    assert not result.stderr, result.stderr
    return result.returncode, result.stdout


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
    assert projects[1]["checks"]["CML301"] == {
        "area": "ruff",
        "description": "ruff reads `pyproject.toml` and selects every rule of the template.",
        "ok": False,
        "problems": ["rules no longer selected: D"],
    }
    assert list(projects[0]["checks"]) == [check.__name__ for check in CHECKS]
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
        *AREAS.values(),
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
    assert f"{drifted}:\n  CML301 ruff: rules no longer selected: D\n" in output
    assert lines[-1] == "2 project(s): 1 below the standard, 2 behind the newest template release."


def test_command_fails_an_outdated_project_only_when_asked(base: Path) -> None:
    assert conformance(base)[0] == 0
    assert conformance("--fail-outdated", base)[0] == 1


IGNORE_ALL = '\n[tool.repo-review]\nignore = ["CML", "CML301"]\nselect = ["PY"]\n'


def test_repo_review_runs_the_checks_and_the_platform_run_ignores_a_projects_ignore_list(
    base: Path, tmp_path: Path
) -> None:
    """``repo-review`` over several projects reports the drifted one and exits non-zero.

    A project may ignore checks for its own ``repo-review`` runs; the platform's
    ``copier-ml-conformance`` reads no project's settings and still reports the drift.
    """
    drifted = shutil.copytree(base, tmp_path / "drifted", symlinks=True)
    DRIFTS["ruff-rule-dropped"][0](drifted)
    command = [venv_tool("repo-review"), "--format", "json", "--select", "CML"]
    result = run([*command, str(base), str(drifted)], Path.cwd(), check=False)
    assert result.returncode == 3, result.stderr
    verdicts = json.loads(result.stdout)  # by folder name
    assert verdicts["drifted"]["checks"]["CML301"]["result"] is False
    assert "rules no longer selected: D" in verdicts["drifted"]["checks"]["CML301"]["err_msg"]
    assert all(check["result"] for check in verdicts["base"]["checks"].values())

    append("pyproject.toml", IGNORE_ALL)(drifted)
    assert run([*command[:-2], str(drifted)], Path.cwd(), check=False).returncode != 3
    status, output = conformance(drifted)
    assert status == 1
    assert "CML301 ruff: rules no longer selected: D" in output
