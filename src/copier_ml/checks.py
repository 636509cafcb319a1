"""The copier-ml standard as repo-review checks: one small class per rule, each with a code.

``CML1xx`` read the answers file, ``CML2xx`` mypy's settings, ``CML3xx`` ruff's,
``CML4xx`` the pre-commit hooks and ``CML5xx`` the CI file. Each check takes parsed data
(the fixtures of ``fixtures.py``) and returns ``""`` when the project meets the rule, the
problems (one per line) when it does not, and ``None`` (a skip) when the file it reads is
not there to judge; so each is tested on data, without a project on disk. The values they
compare with are those of ``standard.py``, which the template's tests hold to the renders.
"""

import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from . import ci, standard
from .fixtures import ANSWERS_FILE, CiFile, MypySettings, RuffSettings
from .reading import Config, Loaded, entries, mapping

FAMILY = "copier-ml"
SELECTOR = re.compile(r"^(?P<letters>[A-Z]+)(?P<digits>[0-9]*)$")
# The prefixes of pylint's rule groups: selecting "PL" selects all four.
PYLINT_GROUPS = {"PLC", "PLE", "PLR", "PLW"}
# What ruff selects when a configuration names no rules, and the files it includes.
RUFF_DEFAULT_SELECT = ("E4", "E7", "E9", "F")
RUFF_DEFAULT_INCLUDE = ("*.py", "*.pyi", "*.ipynb", "**/pyproject.toml")
# A shell command whose failure is swallowed: `cmd || true`, `cmd; true`, `ruff --exit-zero`.
SWALLOWED = re.compile(r"\|\|\s*(true|:|exit\s+0)\b|;\s*(true|:)\s*$|--exit-zero")


def verdict(problems: Iterable[str]) -> str:
    """Return the problems one per line: repo-review's failure message, or ``""`` for a pass."""
    return "\n".join(problems)


def as_list(value: object) -> list[str]:
    """Return a setting that may be one string or a list of them as a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


class Check:
    """What every copier-ml check shares: its family and the checks it needs to pass first.

    Each check's ``check`` is a static method whose parameters name the fixtures it reads.
    """

    family: ClassVar[str] = FAMILY
    requires: ClassVar[frozenset[str]] = frozenset()
    check: ClassVar[Callable[..., str | None]]


# --- CML1: the answers file --------------------------------------------------------------


class CML101(Check):
    """The answers file (`.copier-answers.yml`) parses."""

    @staticmethod
    def check(copier_answers: Loaded) -> str:
        """{name}: the answers file cannot be read."""
        return "" if copier_answers.data is not None else copier_answers.missing


class CML102(Check):
    """The answers record where the project comes from (`_src_path`, `_commit`)."""

    requires = frozenset({"CML101"})

    @staticmethod
    def check(copier_answers: Loaded) -> str:
        """{name}: the answers lack the template's source or release."""
        answers = mapping(copier_answers.data)
        return verdict(
            f"{ANSWERS_FILE} does not record {key}"
            for key in ("_src_path", "_commit")
            if not isinstance(answers.get(key), str) or not answers[key]
        )


# --- CML2: mypy --------------------------------------------------------------------------


def normalised(settings: Config) -> Config:
    """Return mypy settings with the inverted spellings mypy accepts turned around.

    ``allow_untyped_defs = true`` means ``disallow_untyped_defs = false``, and
    ``no_warn_return_any = true`` means ``warn_return_any = false``.
    """
    result = {}
    for key, value in settings.items():
        if isinstance(value, bool) and key.startswith("allow_"):
            result[f"dis{key}"] = not value
        elif isinstance(value, bool) and key.startswith("no_"):
            result[key.removeprefix("no_")] = not value
        else:
            result[key] = value
    return result


def weakened_flags(settings: Config, where: str) -> list[str]:
    """Return the parts of strict mode, and the standard's flags, that ``settings`` switch off."""
    required = standard.MYPY_STRICT_FLAGS | standard.MYPY_EXTRA_FLAGS | standard.MYPY_DEFAULT_FLAGS
    problems = [
        f"{where}sets {flag} = {str(settings[flag]).lower()}, which the standard forbids"
        for flag in required
        if flag in settings and settings[flag] is not required[flag]
    ]
    if settings.get("ignore_errors") is True:
        problems.append(f"{where}sets ignore_errors = true")
    if disabled := as_list(settings.get("disable_error_code")):
        problems.append(f"{where}disables error codes {', '.join(disabled)}")
    return problems


class CML201(Check):
    """mypy reads its settings from `pyproject.toml`, in strict mode."""

    @staticmethod
    def check(mypy_settings: MypySettings) -> str:
        """{name}: mypy does not run in strict mode from pyproject.toml."""
        if mypy_settings.settings is None:
            return mypy_settings.problem or (
                f"{mypy_settings.file} has no mypy settings: mypy runs without strict mode"
            )
        problems = []
        if mypy_settings.file != "pyproject.toml":
            problems.append(f"mypy reads {mypy_settings.file}, not pyproject.toml")
        if normalised(mypy_settings.settings).get("strict") is not True:
            problems.append("strict = true is not set")
        return verdict(problems)


class CML202(Check):
    """No part of strict mode, nor the standard's extra flags and error codes, is off, globally or per module."""

    @staticmethod
    def check(mypy_settings: MypySettings) -> str | None:
        """{name}: a part of mypy's strict mode is switched off."""
        if mypy_settings.settings is None:
            return None
        settings = normalised(mypy_settings.settings)
        problems = weakened_flags(settings, "")
        for flag, value in standard.MYPY_EXTRA_FLAGS.items():
            if flag not in settings:  # a value other than the standard's is reported above
                problems.append(f"{flag} = {str(value).lower()} is not set")
        enabled = set(as_list(settings.get("enable_error_code")))
        if missing := [c for c in standard.MYPY_ENABLED_ERROR_CODES if c not in enabled]:
            problems.append(f"error codes no longer enabled: {', '.join(missing)}")
        for override in mypy_settings.overrides:
            modules = ", ".join(as_list(override.get("module"))) or "?"
            problems += weakened_flags(normalised(override), f"the override for {modules} ")
        return verdict(problems)


class CML203(Check):
    """mypy checks every folder of code, and excludes no file."""

    @staticmethod
    def check(mypy_settings: MypySettings) -> str | None:
        """{name}: mypy no longer checks all the code."""
        if mypy_settings.settings is None:
            return None
        files = as_list(mypy_settings.settings.get("files"))
        problems = []
        if unchecked := [folder for folder in standard.MYPY_FILES if folder not in files]:
            problems.append(f"files no longer type-checked: {', '.join(unchecked)}")
        if excluded := mypy_settings.settings.get("exclude"):
            problems.append(f"exclude keeps files from mypy: {excluded}")
        return verdict(problems)


# --- CML3: ruff --------------------------------------------------------------------------


def covers(selector: str, code: str) -> bool:
    """Tell whether the ruff rule selector ``selector`` includes every rule of ``code``."""
    if selector in {"ALL", code}:
        return True
    wide, narrow = SELECTOR.match(selector), SELECTOR.match(code)
    if wide is None or narrow is None:
        return False
    if wide["letters"] == narrow["letters"]:
        return narrow["digits"].startswith(wide["digits"])
    return selector == "PL" and narrow["letters"] in PYLINT_GROUPS


def covered(code: str, selectors: Iterable[str]) -> bool:
    """Tell whether one of ``selectors`` includes ``code``."""
    return any(covers(selector, code) for selector in selectors)


def lint_setting(config: Config, key: str) -> Any:  # noqa: ANN401 - any TOML value
    """Return a lint setting from [lint], or from the top level where old configs put it."""
    lint = mapping(config.get("lint"))
    return lint[key] if key in lint else config.get(key)


class CML301(Check):
    """ruff reads `pyproject.toml` and selects every rule of the template."""

    @staticmethod
    def check(ruff_settings: RuffSettings) -> str:
        """{name}: ruff no longer selects every rule of the template."""
        config = ruff_settings.config
        if config is None:
            name = ruff_settings.file
            return (
                ruff_settings.problem
                or f"{name} has no ruff settings: ruff runs its few default rules"
            )
        problems = []
        if ruff_settings.file != "pyproject.toml":
            problems.append(f"ruff reads {ruff_settings.file}, not pyproject.toml")
        if extended := config.get("extend"):
            problems.append(f"settings come partly from {extended}, which this check does not read")
        selected = [*(as_list(lint_setting(config, "select")) or RUFF_DEFAULT_SELECT)]
        selected += as_list(lint_setting(config, "extend-select"))
        if dropped := [c for c in standard.RUFF_SELECT if not covered(c, selected)]:
            problems.append(f"rules no longer selected: {', '.join(dropped)}")
        return verdict(problems)


class CML302(Check):
    """ruff ignores no rule beyond the template's exceptions, globally or per file."""

    @staticmethod
    def check(ruff_settings: RuffSettings) -> str | None:
        """{name}: ruff ignores rules the template does not."""
        config = ruff_settings.config
        if config is None:
            return None
        ignored = [
            *as_list(lint_setting(config, "ignore")),
            *as_list(lint_setting(config, "extend-ignore")),
        ]
        problems = []
        if added := [c for c in ignored if not covered(c, standard.RUFF_IGNORE)]:
            problems.append(f"rules ignored beyond the template's: {', '.join(added)}")
        allowed = {
            pattern.format(package=ruff_settings.package): codes
            for pattern, codes in standard.RUFF_PER_FILE_IGNORES.items()
        }
        for key in ("per-file-ignores", "extend-per-file-ignores"):  # each table on its own
            for pattern, codes in mapping(lint_setting(config, key)).items():
                if extra := [c for c in as_list(codes) if not covered(c, allowed.get(pattern, ()))]:
                    problems.append(f"per-file ignores added for {pattern}: {', '.join(extra)}")
        return verdict(problems)


class CML303(Check):
    """ruff checks every file: nothing is excluded, and `include` is not narrowed."""

    @staticmethod
    def check(ruff_settings: RuffSettings) -> str | None:
        """{name}: ruff no longer sees every file."""
        config = ruff_settings.config
        if config is None:
            return None
        problems = []
        for where, table in (("", config), ("lint.", mapping(config.get("lint")))):
            problems += [
                f"{where}{key} keeps files from ruff: {', '.join(as_list(table[key]))}"
                for key in ("exclude", "extend-exclude")
                if as_list(table.get(key))
            ]
            included = as_list(table.get("include"))
            if "include" in table and not set(RUFF_DEFAULT_INCLUDE) <= set(included):
                problems.append(
                    f"{where}include narrows the files ruff checks: {', '.join(included)}"
                )
        return verdict(problems)


# --- CML4: pre-commit --------------------------------------------------------------------


def hooks_by_id(config: Config) -> dict[object, Config]:
    """Return the hooks of a pre-commit configuration by id."""
    return {
        hook.get("id"): hook
        for repo in entries(config.get("repos"))
        for hook in entries(mapping(repo).get("hooks"))
        if isinstance(hook, dict)
    }


class CML401(Check):
    """`.pre-commit-config.yaml` has every hook of the template, and keeps no file from them all."""

    @staticmethod
    def check(pre_commit_config: Loaded) -> str:
        """{name}: hooks of the template are missing."""
        config = pre_commit_config.data
        if config is None:
            return pre_commit_config.missing
        problems = [
            f"{key} at the top level keeps files from every hook: {config[key]}"
            for key in ("files", "exclude")
            if config.get(key)
        ]
        hooks = hooks_by_id(config)
        if missing := [hook for hook in standard.PRE_COMMIT_HOOKS if hook not in hooks]:
            problems.append(f"hooks removed: {', '.join(missing)}")
        return verdict(problems)


class CML402(Check):
    """Each hook runs the template's command, on the files the template gives it, at commit time."""

    @staticmethod
    def check(pre_commit_config: Loaded) -> str | None:
        """{name}: a hook no longer runs as the template runs it."""
        if pre_commit_config.data is None:
            return None
        hooks = hooks_by_id(pre_commit_config.data)
        problems = []
        for hook_id, entry in {
            **standard.PRE_COMMIT_HOOKS,
            **standard.OPTIONAL_PRE_COMMIT_HOOKS,
        }.items():
            hook = hooks.get(hook_id)
            if hook is None:
                continue
            if hook.get("entry") != entry:
                problems.append(f"hook {hook_id} runs {hook.get('entry')!r}, not {entry!r}")
            if hook_id not in standard.PRE_COMMIT_HOOKS:
                continue
            if hook.get("files") or hook.get("exclude") != standard.PRE_COMMIT_EXCLUDES.get(
                hook_id
            ):
                problems.append(f"hook {hook_id} no longer sees the files the template gives it")
            if "stages" in hook and "pre-commit" not in as_list(hook["stages"]):
                problems.append(
                    f"hook {hook_id} no longer runs on commit (stages: {hook['stages']})"
                )
        return verdict(problems)


# --- CML5: CI ----------------------------------------------------------------------------


class CML501(Check):
    """The CI file of the project's `ci_provider` exists and parses."""

    @staticmethod
    def check(ci_file: CiFile) -> str:
        """{name}: there is no CI file to run the checks."""
        if ci_file.file is None:
            return f"no CI: ci_provider is {ci_file.provider}"
        return "" if ci_file.file.data is not None else ci_file.file.missing


def commands_of(ci_file: CiFile) -> list[ci.Step]:
    """Return the steps of the CI file, or none without one."""
    if ci_file.file is None or ci_file.file.data is None:
        return []
    return ci.steps(ci_file.provider, ci_file.file.data)


class CML502(Check):
    """CI runs every check: `ruff check`, `ruff format --check`, `mypy` and `pytest`."""

    requires = frozenset({"CML501"})

    @staticmethod
    def check(ci_file: CiFile) -> str:
        """{name}: CI no longer runs every check."""
        steps = [step for step in commands_of(ci_file) if step.runs]
        path = standard.CI_FILES.get(ci_file.provider, "CI")
        return verdict(
            f"{path} no longer runs: {command}"
            for command in standard.CI_COMMANDS
            if not any(command in step.command for step in steps)
        )


class CML503(Check):
    """A check that fails in CI fails the pipeline: no `|| true`, `continue-on-error` or `allow_failure`."""

    requires = frozenset({"CML501"})

    @staticmethod
    def check(ci_file: CiFile) -> str:
        """{name}: a check's failure no longer fails the pipeline."""
        steps = [step for step in commands_of(ci_file) if step.runs]
        path = standard.CI_FILES.get(ci_file.provider, "CI")
        problems = []
        for command in standard.CI_COMMANDS:
            running = [step for step in steps if command in step.command]
            enforced = any(
                not step.may_fail and not SWALLOWED.search(step.command) for step in running
            )
            if running and not enforced:
                problems.append(
                    f"{path} runs {command}, but its failure no longer fails the pipeline"
                )
        return verdict(problems)


CHECKS: tuple[type[Check], ...] = (
    CML101, CML102, CML201, CML202, CML203, CML301, CML302, CML303, CML401, CML402, CML501,
    CML502, CML503,
)  # fmt: skip


def repo_review_checks() -> dict[str, Check]:
    """Return the checks by code: repo-review's ``repo_review.checks`` entry point."""
    return {check.__name__: check() for check in CHECKS}


def repo_review_families() -> dict[str, dict[str, str | int]]:
    """Return the family's name and order: repo-review's ``repo_review.families`` entry point."""
    return {FAMILY: {"name": "copier-ml standard", "order": 0}}
