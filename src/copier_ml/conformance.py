"""Check that projects generated from copier-ml are up to date and still on its standard.

Usage: ``copier-ml-conformance [--format table|json] [--template URL] [--fail-outdated] DIR...``

For each project directory it reports the template release the project is on (``_commit``
in ``.copier-answers.yml``), the newest release (the highest PEP 440 tag of the template
repository, read with ``git ls-remote``), and five checks of the standard:

* ``answers``: ``.copier-answers.yml`` parses and records ``_src_path`` and ``_commit``;
* ``mypy``: strict mode is on and no part of it is switched off, globally or per module,
  under any spelling mypy accepts (``allow_untyped_defs``, ``no_warn_return_any``...), and
  no file is excluded;
* ``ruff``: every rule of the template's selection is selected, and nothing is ignored
  (globally, per file, or by excluding or not including files) beyond the template's own
  exceptions;
* ``pre-commit``: ``.pre-commit-config.yaml`` has every hook of the template, each running
  the template's command on the files the template gives it;
* ``ci``: the CI file of the project's ``ci_provider`` exists and runs the checks, in jobs
  and steps that run and whose failure fails the pipeline.

A file of an unexpected shape is a problem of its check, never a crash of the command.

The exit status is 1 when a project falls below the standard (and, with
``--fail-outdated``, when one is not on the newest release), else 0.
"""

import argparse
import configparser
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from copier_ml import standard

ANSWERS_FILE = ".copier-answers.yml"
# `git describe` output, which Copier records for a commit after a tag: v1.2.0-3-g1a2b3c4.
DESCRIBED = re.compile(r"^(?P<tag>.+?)(?:-(?P<ahead>\d+)-g[0-9a-f]+)?$")
SELECTOR = re.compile(r"^(?P<letters>[A-Z]+)(?P<digits>[0-9]*)$")
# The prefixes of pylint's rule groups: selecting "PL" selects all four.
PYLINT_GROUPS = {"PLC", "PLE", "PLR", "PLW"}
# Copier's shorthands for Git hosts in _src_path.
SOURCE_PREFIXES = {"gh:": "https://github.com/", "gl:": "https://gitlab.com/"}
# What ruff selects when a configuration names no rules, and the files it includes.
RUFF_DEFAULT_SELECT = ("E4", "E7", "E9", "F")
RUFF_DEFAULT_INCLUDE = ("*.py", "*.pyi", "*.ipynb", "**/pyproject.toml")
# A shell command whose failure is swallowed: `cmd || true`, `cmd; true`, `ruff --exit-zero`.
SWALLOWED = re.compile(r"\|\|\s*(true|:|exit\s+0)\b|;\s*(true|:)\s*$|--exit-zero")
# Values of a GitHub `if:` that never run the job or step.
NEVER = (False, "false", "${{ false }}")
# Top-level keys of .gitlab-ci.yml that are settings, not jobs.
GITLAB_KEYWORDS = frozenset(
    {"default", "include", "stages", "variables", "workflow", "image", "services", "cache"}
)

Config = dict[str, Any]


def mapping(value: object) -> Config:
    """Return ``value`` when it is a mapping (a TOML table, a YAML mapping), else ``{}``."""
    return value if isinstance(value, dict) else {}


def entries(value: object) -> list[Any]:
    """Return ``value`` when it is a list (a TOML array, a YAML sequence), else ``[]``."""
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class Reference:
    """GitLab's ``!reference [job, key]``: the value of ``key`` in another job."""

    path: tuple[str, ...]


class GitLabLoader(yaml.SafeLoader):
    """A safe YAML loader that also reads GitLab's ``!reference`` tags."""


def _reference(loader: yaml.SafeLoader, node: yaml.Node) -> Reference:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!reference takes a list", node.start_mark
        )
    return Reference(tuple(map(str, loader.construct_sequence(node))))


GitLabLoader.add_constructor("!reference", _reference)


@dataclass(frozen=True)
class Check:
    """The verdict of one check on one project: it passes when it found no problem."""

    name: str
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Tell whether the project meets this part of the standard."""
        return not self.problems


@dataclass(frozen=True)
class TemplateStatus:
    """The template release a project is on, compared with the newest one."""

    source: str | None = None
    version: str | None = None
    latest: str | None = None
    up_to_date: bool | None = None
    error: str | None = None


@dataclass(frozen=True)
class Report:
    """Everything the check found about one project."""

    path: str
    template: TemplateStatus
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def conformant(self) -> bool:
        """Tell whether every check passed."""
        return all(check.ok for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "path": self.path,
            "template": asdict(self.template),
            "conformant": self.conformant,
            "checks": {c.name: {"ok": c.ok, "problems": list(c.problems)} for c in self.checks},
        }


# --- Reading a project ------------------------------------------------------------------


def read_yaml(
    project: Path, relative: str, loader: type[yaml.SafeLoader] = yaml.SafeLoader
) -> tuple[Config | None, str | None]:
    """Return a YAML mapping of the project, or None and why it cannot be read."""
    try:
        data = yaml.load((project / relative).read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - loader is SafeLoader or a subclass
    except FileNotFoundError:
        return None, f"{relative} is missing"
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        return None, f"{relative} does not parse: {error}"
    if not isinstance(data, dict):
        return None, f"{relative} is not a mapping"
    return data, None


def read_answers(project: Path) -> tuple[Config | None, str | None]:
    """Return the answers file as a mapping, or None and why it cannot be read."""
    return read_yaml(project, ANSWERS_FILE)


def read_toml(path: Path) -> tuple[Config | None, str | None]:
    """Return a TOML file as a mapping, or None and why it cannot be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        return None, f"{path.name} does not parse: {error}"


def tool_table(pyproject: Config, name: str) -> Config | None:
    """Return ``[tool.<name>]`` of a parsed pyproject.toml, or None when it has none."""
    table = mapping(pyproject.get("tool")).get(name)
    return table if isinstance(table, dict) else None


def package_name(project: Path) -> str:
    """Return the project's import name, which its per-file ruff exceptions mention."""
    pyproject, _ = read_toml(project / "pyproject.toml")
    backend = tool_table(pyproject or {}, "uv") or {}
    module = mapping(backend.get("build-backend")).get("module-name")
    if isinstance(module, str):
        return module
    answers, _ = read_answers(project)
    name = (answers or {}).get("package_name")
    return name if isinstance(name, str) else "*"


# --- Template version -------------------------------------------------------------------


def tag_of(commit: str) -> str:
    """Return the tag a recorded ``_commit`` names, without a `git describe` suffix."""
    match = DESCRIBED.match(commit)
    return match["tag"] if match else commit


def git_url(source: str, project: Path) -> str:
    """Return ``_src_path`` as ``git`` understands it: shorthands expanded, paths resolved."""
    for prefix, url in SOURCE_PREFIXES.items():
        if source.startswith(prefix):
            return url + source.removeprefix(prefix)
    if "://" in source or source.startswith("git@") or Path(source).is_absolute():
        return source
    return str((project / source).resolve())


@cache
def release_tags(url: str) -> dict[str, Version]:
    """Return the tags of the Git repository at ``url`` that are PEP 440 versions.

    Raises:
        LookupError: the repository cannot be read.
    """
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # fail rather than ask
    try:
        result = subprocess.run(  # noqa: S603 - fixed command; the URL is an argument
            ["git", "ls-remote", "--tags", "--refs", url],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=environment,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LookupError(f"cannot list the tags of {url}: {error}") from None
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines() or [f"git exited {result.returncode}"]
        raise LookupError(f"cannot list the tags of {url}: {reason[0]}")
    tags = {}
    for line in result.stdout.splitlines():
        tag = line.partition("\trefs/tags/")[2]
        try:
            tags[tag] = Version(tag)
        except InvalidVersion:
            continue
    return tags


def latest_release(url: str) -> str:
    """Return the tag of the highest final release of the Git repository at ``url``.

    Raises:
        LookupError: the repository cannot be read, or has no release tag.
    """
    releases = [(v, tag) for tag, v in release_tags(url).items() if not v.is_prerelease]
    if not releases:
        raise LookupError(f"{url} has no release tag (vX.Y.Z)")
    return max(releases)[1]


def template_status(project: Path, template: str | None) -> TemplateStatus:
    """Compare the project's template release with the newest one.

    The recorded ``_commit`` counts as a release only when it is (or follows) one of the
    template's version tags: a bare commit hash of digits would otherwise read as a version.
    """
    answers, _ = read_answers(project)
    source = template or (answers or {}).get("_src_path")
    commit = (answers or {}).get("_commit")
    version = None if commit is None else str(commit)
    if not isinstance(source, str) or not source:
        return TemplateStatus(error="no template source: _src_path is not recorded")
    url = source if template is not None else git_url(source, project)
    try:
        latest = latest_release(url)
    except LookupError as error:
        return TemplateStatus(source=source, version=version, error=str(error))
    current = release_tags(url).get(tag_of(version)) if version else None
    if current is None:
        return TemplateStatus(
            source=source,
            version=version,
            latest=latest,
            error=f"the recorded template version {version!r} is not a release tag of {url}",
        )
    up_to_date = current >= release_tags(url)[latest]
    return TemplateStatus(source=source, version=version, latest=latest, up_to_date=up_to_date)


# --- The checks -------------------------------------------------------------------------


def check_answers(project: Path) -> list[str]:
    """The answers file parses and says where the project comes from."""
    answers, problem = read_answers(project)
    if answers is None:
        return [str(problem)]
    return [
        f"{ANSWERS_FILE} does not record {key}"
        for key in ("_src_path", "_commit")
        if not isinstance(answers.get(key), str) or not answers[key]
    ]


def ini_value(value: str) -> Any:  # noqa: ANN401 - a bool, a list or a string, as mypy reads it
    """Return an INI setting of mypy as a bool or list when it is one."""
    lowered = value.strip().lower()
    if lowered in {"true", "yes", "on", "1"}:
        return True
    if lowered in {"false", "no", "off", "0"}:
        return False
    if "," in value:
        return [part.strip() for part in value.split(",") if part.strip()]
    return value.strip()


def mypy_config(project: Path) -> tuple[str, Config | None, list[Config]]:
    """Return the file mypy reads its settings from, its global settings and its overrides.

    mypy reads mypy.ini or .mypy.ini whenever one exists (even with no [mypy] section, and
    then with no settings), else pyproject.toml if it has [tool.mypy], else setup.cfg if it
    has [mypy]; each override is a mapping with its ``module`` patterns.
    """
    for name in ("mypy.ini", ".mypy.ini", "pyproject.toml", "setup.cfg"):
        path = project / name
        if not path.is_file():
            continue
        if name == "pyproject.toml":
            pyproject, _ = read_toml(path)
            table = tool_table(pyproject or {}, "mypy")
            if table is None:
                continue
            overrides = [o for o in entries(table.get("overrides")) if isinstance(o, dict)]
            settings = {k: v for k, v in table.items() if k != "overrides"}
            return name, settings, overrides
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            return name, None, []
        if not parser.has_section("mypy"):
            if name == "setup.cfg":
                continue
            return name, None, []
        settings = {k: ini_value(v) for k, v in parser["mypy"].items()}
        overrides = [
            {"module": section.removeprefix("mypy-"), **{k: ini_value(v) for k, v in body.items()}}
            for section, body in parser.items()
            if section.startswith("mypy-")
        ]
        return name, settings, overrides
    return "pyproject.toml", None, []


def as_list(value: object) -> list[str]:
    """Return a setting that may be one string or a list of them as a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


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
    """Return the parts of strict mode, and the standard's extra flags, that ``settings`` switch off."""
    required = standard.MYPY_STRICT_FLAGS | standard.MYPY_EXTRA_FLAGS | standard.MYPY_DEFAULT_FLAGS
    problems = [
        f"{where}sets {flag} = {str(settings[flag]).lower()}, which the standard forbids"
        for flag, value in required.items()
        if flag in settings and settings[flag] is not value
    ]
    if settings.get("ignore_errors") is True:
        problems.append(f"{where}sets ignore_errors = true")
    if disabled := as_list(settings.get("disable_error_code")):
        problems.append(f"{where}disables error codes {', '.join(disabled)}")
    return problems


def check_mypy(project: Path) -> list[str]:
    """Strict mypy is on, on every folder of code, and no part of it is switched off."""
    name, settings, overrides = mypy_config(project)
    if settings is None:
        return [f"{name} has no mypy settings: mypy runs without strict mode"]
    problems = [] if name == "pyproject.toml" else [f"mypy reads {name}, not pyproject.toml"]
    settings = normalised(settings)
    if settings.get("strict") is not True:
        problems.append("strict = true is not set")
    problems += weakened_flags(settings, "")
    for flag, value in standard.MYPY_EXTRA_FLAGS.items():
        if flag not in settings:  # a value other than the standard's is reported above
            problems.append(f"{flag} = {str(value).lower()} is not set")
    enabled = set(as_list(settings.get("enable_error_code")))
    if missing := [c for c in standard.MYPY_ENABLED_ERROR_CODES if c not in enabled]:
        problems.append(f"error codes no longer enabled: {', '.join(missing)}")
    files = as_list(settings.get("files"))
    if unchecked := [folder for folder in standard.MYPY_FILES if folder not in files]:
        problems.append(f"files no longer type-checked: {', '.join(unchecked)}")
    if excluded := settings.get("exclude"):
        problems.append(f"exclude keeps files from mypy: {excluded}")
    for override in overrides:
        modules = ", ".join(as_list(override.get("module"))) or "?"
        problems += weakened_flags(normalised(override), f"the override for {modules} ")
    return problems


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


def ruff_config(project: Path) -> tuple[str, Config | None]:
    """Return the file ruff reads its settings from and those settings.

    ruff reads .ruff.toml, then ruff.toml, then [tool.ruff] of pyproject.toml.
    """
    for name in (".ruff.toml", "ruff.toml"):
        if (project / name).is_file():
            config, _ = read_toml(project / name)
            return name, config
    pyproject, _ = read_toml(project / "pyproject.toml")
    return "pyproject.toml", tool_table(pyproject or {}, "ruff")


def lint_setting(config: Config, key: str) -> Any:  # noqa: ANN401 - any TOML value
    """Return a lint setting from [lint], or from the top level where old configs put it."""
    lint = mapping(config.get("lint"))
    return lint[key] if key in lint else config.get(key)


def check_ruff(project: Path) -> list[str]:
    """Every rule of the template is selected, and nothing more is ignored or excluded."""
    name, config = ruff_config(project)
    if config is None:
        return [f"{name} has no ruff settings: ruff runs its few default rules"]
    problems = [] if name == "pyproject.toml" else [f"ruff reads {name}, not pyproject.toml"]
    if extended := config.get("extend"):
        problems.append(f"settings come partly from {extended}, which this check does not read")
    selected = [*(as_list(lint_setting(config, "select")) or RUFF_DEFAULT_SELECT)]
    selected += as_list(lint_setting(config, "extend-select"))
    if dropped := [c for c in standard.RUFF_SELECT if not covered(c, selected)]:
        problems.append(f"rules no longer selected: {', '.join(dropped)}")
    ignored = [
        *as_list(lint_setting(config, "ignore")),
        *as_list(lint_setting(config, "extend-ignore")),
    ]
    if added := [c for c in ignored if not covered(c, standard.RUFF_IGNORE)]:
        problems.append(f"rules ignored beyond the template's: {', '.join(added)}")
    allowed = {
        pattern.format(package=package_name(project)): codes
        for pattern, codes in standard.RUFF_PER_FILE_IGNORES.items()
    }
    for key in ("per-file-ignores", "extend-per-file-ignores"):  # each table on its own
        for pattern, codes in mapping(lint_setting(config, key)).items():
            if extra := [c for c in as_list(codes) if not covered(c, allowed.get(pattern, ()))]:
                problems.append(f"per-file ignores added for {pattern}: {', '.join(extra)}")
    for where, table in (("", config), ("lint.", mapping(config.get("lint")))):
        for key in ("exclude", "extend-exclude"):
            if excluded := as_list(table.get(key)):
                problems.append(f"{where}{key} keeps files from ruff: {', '.join(excluded)}")
        included = as_list(table.get("include"))
        if "include" in table and not set(RUFF_DEFAULT_INCLUDE) <= set(included):
            problems.append(f"{where}include narrows the files ruff checks: {', '.join(included)}")
    return problems


def check_pre_commit(project: Path) -> list[str]:
    """.pre-commit-config.yaml runs every hook of the template, as the template runs it."""
    config, problem = read_yaml(project, ".pre-commit-config.yaml")
    if config is None:
        return [str(problem)]
    problems = [
        f"{key} at the top level keeps files from every hook: {config[key]}"
        for key in ("files", "exclude")
        if config.get(key)
    ]
    hooks = {
        hook.get("id"): hook
        for repo in entries(config.get("repos"))
        for hook in entries(mapping(repo).get("hooks"))
        if isinstance(hook, dict)
    }
    if missing := [hook for hook in standard.PRE_COMMIT_HOOKS if hook not in hooks]:
        problems.append(f"hooks removed: {', '.join(missing)}")
    for hook_id, entry in standard.PRE_COMMIT_HOOKS.items():
        hook = hooks.get(hook_id)
        if hook is None:
            continue
        if hook.get("entry") != entry:
            problems.append(f"hook {hook_id} runs {hook.get('entry')!r}, not {entry!r}")
        if hook.get("files") or hook.get("exclude") != standard.PRE_COMMIT_EXCLUDES.get(hook_id):
            problems.append(f"hook {hook_id} no longer sees the files the template gives it")
        if "stages" in hook and "pre-commit" not in as_list(hook["stages"]):
            problems.append(f"hook {hook_id} no longer runs on commit (stages: {hook['stages']})")
    for hook_id, entry in standard.OPTIONAL_PRE_COMMIT_HOOKS.items():
        hook = hooks.get(hook_id)
        if hook is not None and hook.get("entry") != entry:
            problems.append(f"hook {hook_id} runs {hook.get('entry')!r}, not {entry!r}")
    return problems


def github_commands(config: Config) -> tuple[list[str], list[str]]:
    """Return the ``run:`` commands of a workflow that run, and those whose failure is ignored.

    Jobs and steps with ``if: false`` never run; with ``continue-on-error: true`` they run
    but cannot fail the workflow.
    """
    running: list[str] = []
    ignored: list[str] = []
    for job in map(mapping, mapping(config.get("jobs")).values()):
        if job.get("if") in NEVER:
            continue
        for step in map(mapping, entries(job.get("steps"))):
            if "run" not in step or step.get("if") in NEVER:
                continue
            failing_is_ok = True in (job.get("continue-on-error"), step.get("continue-on-error"))
            (ignored if failing_is_ok else running).append(str(step["run"]))
    return running, ignored


def gitlab_value(config: Config, job: Config, key: str, depth: int = 0) -> object:
    """Return ``key`` of a GitLab job, inherited through ``extends`` when the job lacks it."""
    if key in job or depth > 10:  # GitLab itself allows 11 levels of `extends`
        return job.get(key)
    parents = job.get("extends")
    for parent in reversed([parents] if isinstance(parents, str) else entries(parents)):
        value = gitlab_value(config, mapping(config.get(parent)), key, depth + 1)
        if value is not None:
            return value
    return None


def gitlab_lines(config: Config, value: object, depth: int = 0) -> list[str]:
    """Return the lines of a script, with ``!reference`` tags and nested lists resolved."""
    lines = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, Reference) and depth <= 10:
            target: object = config
            for key in item.path:
                target = mapping(target).get(key)
            lines += gitlab_lines(config, target, depth + 1)
        elif isinstance(item, list):
            lines += gitlab_lines(config, item, depth)
        elif item is not None:
            lines.append(str(item))
    return lines


def gitlab_commands(config: Config) -> tuple[list[str], list[str]]:
    """Return the script lines of the jobs that run, and of those whose failure is ignored.

    Hidden jobs (``.name``) and manual ones never run on their own; ``allow_failure: true``
    jobs cannot fail the pipeline. ``default:`` holds the ``before_script`` of every job.
    """
    running: list[str] = []
    ignored: list[str] = []
    default = mapping(config.get("default"))
    for name, job in config.items():
        if str(name).startswith(".") or name in GITLAB_KEYWORDS or not isinstance(job, dict):
            continue
        if gitlab_value(config, job, "when") in ("manual", "never"):
            continue
        lines = []
        for part in ("before_script", "script"):
            value = gitlab_value(config, job, part)
            lines += gitlab_lines(config, default.get(part) if value is None else value)
        failing_is_ok = gitlab_value(config, job, "allow_failure") is True
        (ignored if failing_is_ok else running).extend(lines)
    return running, ignored


def check_ci(project: Path) -> list[str]:
    """The CI file of the project's ci_provider exists and still runs the checks for real."""
    answers, _ = read_answers(project)
    provider = (answers or {}).get("ci_provider")
    if provider is None:  # no answers: look for either CI file
        found = [p for p, f in standard.CI_FILES.items() if (project / f).is_file()]
        provider = found[0] if found else "none"
    if provider not in standard.CI_FILES:
        return [f"no CI: ci_provider is {provider}"]
    path = standard.CI_FILES[provider]
    config, problem = read_yaml(project, path, GitLabLoader)
    if config is None:
        return [str(problem)]
    running, ignored = (github_commands if provider == "github" else gitlab_commands)(config)
    problems = []
    for check in standard.CI_COMMANDS:
        lines = [line for line in running if check in line]
        if any(not SWALLOWED.search(line) for line in lines):
            continue
        if lines or any(check in line for line in ignored):
            problems.append(f"{path} runs {check}, but its failure no longer fails the pipeline")
        else:
            problems.append(f"{path} no longer runs: {check}")
    return problems


CHECKS: dict[str, Callable[[Path], list[str]]] = {
    "answers": check_answers,
    "mypy": check_mypy,
    "ruff": check_ruff,
    "pre-commit": check_pre_commit,
    "ci": check_ci,
}


def check_project(project: Path, template: str | None = None) -> Report:
    """Run every check on ``project`` and compare its template release with the newest."""
    checks = tuple(run_check(name, check, project) for name, check in CHECKS.items())
    return Report(str(project), template_status(project, template), checks)


def run_check(name: str, check: Callable[[Path], list[str]], project: Path) -> Check:
    """Run one check; a file shaped in a way no check foresaw is a problem, not a crash."""
    try:
        return Check(name, tuple(check(project)))
    except Exception as error:  # one odd file must not end every project's report
        return Check(name, (f"cannot be checked: {type(error).__name__}: {error}",))


# --- Output -----------------------------------------------------------------------------


def yes_no(value: bool | None) -> str:
    """Return a table cell for a yes/no/unknown value."""
    return "unknown" if value is None else ("yes" if value else "no")


def table(reports: Sequence[Report]) -> str:
    """Return the reports as a table for people, then each problem on its own line."""
    header = ["project", "template", "latest", "up to date", *CHECKS, "standard"]
    rows = [
        [
            report.path,
            report.template.version or "?",
            report.template.latest or "?",
            yes_no(report.template.up_to_date),
            *("ok" if check.ok else "FAIL" for check in report.checks),
            "meets" if report.conformant else "BELOW",
        ]
        for report in reports
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    for report in reports:
        notes = [f"  template: {report.template.error}"] if report.template.error else []
        notes += [f"  {c.name}: {problem}" for c in report.checks for problem in c.problems]
        if notes:
            lines += ["", f"{report.path}:", *notes]
    below = sum(not report.conformant for report in reports)
    behind = sum(report.template.up_to_date is False for report in reports)
    summary = f"{len(reports)} project(s): {below} below the standard, {behind} behind the newest"
    lines += ["", f"{summary} template release."]
    return "\n".join(lines)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="copier-ml-conformance",
        description="Report whether copier-ml projects are up to date and on the template's standard.",
    )
    parser.add_argument("projects", nargs="+", type=Path, metavar="DIR", help="project folders")
    parser.add_argument(
        "--format", choices=["table", "json"], default="table", help="output (default: table)"
    )
    parser.add_argument(
        "--template",
        metavar="URL",
        help="take the newest release from this Git repository instead of each _src_path",
    )
    parser.add_argument(
        "--fail-outdated",
        action="store_true",
        help="also exit 1 when a project is not on the newest template release",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Check the projects named on the command line; return the exit status."""
    arguments = parse_arguments(argv)
    reports = [check_project(project, arguments.template) for project in arguments.projects]
    if arguments.format == "json":
        print(json.dumps({"projects": [r.as_json() for r in reports]}, indent=2))
    else:
        print(table(reports))
    failed = any(not report.conformant for report in reports)
    if arguments.fail_outdated:
        failed = failed or any(report.template.up_to_date is not True for report in reports)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
