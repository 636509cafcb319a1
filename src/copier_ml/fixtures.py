"""The repo-review fixtures of the copier-ml checks: a project's configuration, as data.

Each fixture reads one file through ``reading.py`` (regular files only, with a size cap and
a guarded YAML loader), so a check receives parsed data or the reason there is none, and
never touches the file system itself. The checks can therefore be tested on data alone.
"""

import configparser
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path

from . import standard
from .reading import (
    Config,
    Loaded,
    Unreadable,
    entries,
    load,
    mapping,
    read_text,
)

ANSWERS_FILE = ".copier-answers.yml"


def local(root: Traversable) -> Path:
    """Return the project folder as a path (the checks read local folders only)."""
    return Path(str(root))


def copier_answers(root: Traversable) -> Loaded:
    """``.copier-answers.yml``: the template's source and release, and the answers."""
    return load(local(root), ANSWERS_FILE, "yaml")


def pyproject_file(root: Traversable) -> Loaded:
    """``pyproject.toml``, read with the guards of ``reading.py``.

    repo-review's own ``pyproject`` fixture reads any file of that name whole, a FIFO or
    ``/dev/zero`` included; the checks use this one.
    """
    return load(local(root), "pyproject.toml", "toml")


def pre_commit_config(root: Traversable) -> Loaded:
    """``.pre-commit-config.yaml``."""
    return load(local(root), ".pre-commit-config.yaml", "yaml")


@dataclass(frozen=True)
class CiFile:
    """The CI file of the project's ``ci_provider`` (``none``: no CI, ``file`` unset)."""

    provider: str
    file: Loaded | None = None


def ci_file(root: Traversable, copier_answers: Loaded) -> CiFile:
    """The CI file the answers name; without answers, whichever CI file exists."""
    folder = local(root)
    provider = mapping(copier_answers.data).get("ci_provider")
    if provider is None:
        found = [p for p, name in standard.CI_FILES.items() if (folder / name).is_file()]
        provider = found[0] if found else "none"
    if provider not in standard.CI_FILES:
        return CiFile(str(provider))
    return CiFile(str(provider), load(folder, standard.CI_FILES[provider], "yaml"))


@dataclass(frozen=True)
class MypySettings:
    """What mypy reads: the file, its global settings (``None``: none) and its overrides."""

    file: str
    settings: Config | None = None
    overrides: list[Config] = field(default_factory=list)
    problem: str | None = None


def ini_value(value: str) -> object:
    """Return an INI setting of mypy as a bool or list when it is one."""
    lowered = value.strip().lower()
    if lowered in {"true", "yes", "on", "1"}:
        return True
    if lowered in {"false", "no", "off", "0"}:
        return False
    if "," in value:
        return [part.strip() for part in value.split(",") if part.strip()]
    return value.strip()


def mypy_ini(folder: Path, name: str) -> MypySettings | None:
    """Read mypy's settings from an INI file; ``None`` when mypy would look further.

    mypy reads mypy.ini or .mypy.ini whenever one exists (even with no [mypy] section, and
    then with no settings), and setup.cfg when it has a [mypy] section.
    """
    try:
        text = read_text(folder / name, name)
    except FileNotFoundError:
        return None
    except Unreadable as error:
        return MypySettings(name, problem=str(error))
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, name)
    except configparser.Error as error:
        return MypySettings(name, problem=f"{name} does not parse: {error}")
    if not parser.has_section("mypy"):
        return None if name == "setup.cfg" else MypySettings(name)
    settings: Config = {k: ini_value(v) for k, v in parser["mypy"].items()}
    overrides = [
        {"module": section.removeprefix("mypy-"), **{k: ini_value(v) for k, v in body.items()}}
        for section, body in parser.items()
        if section.startswith("mypy-")
    ]
    return MypySettings(name, settings, overrides)


def mypy_settings(root: Traversable, pyproject_file: Loaded) -> MypySettings:
    """The settings mypy runs with, from the file it reads them from.

    mypy reads mypy.ini or .mypy.ini whenever one exists, else pyproject.toml if it has
    [tool.mypy], else setup.cfg if it has [mypy]; each override is a mapping with its
    ``module`` patterns.
    """
    folder = local(root)
    for name in ("mypy.ini", ".mypy.ini"):
        if (found := mypy_ini(folder, name)) is not None:
            return found
    if pyproject_file.problem is not None:
        return MypySettings("pyproject.toml", problem=pyproject_file.problem)
    table = mapping(mapping(mapping(pyproject_file.data).get("tool")).get("mypy"))
    if "mypy" in mapping(mapping(pyproject_file.data).get("tool")):
        overrides = [o for o in entries(table.get("overrides")) if isinstance(o, dict)]
        settings = {k: v for k, v in table.items() if k != "overrides"}
        return MypySettings("pyproject.toml", settings, overrides)
    return mypy_ini(folder, "setup.cfg") or MypySettings("pyproject.toml")


@dataclass(frozen=True)
class RuffSettings:
    """What ruff reads: the file and its settings (``None``: none), and the package name.

    The package name fills ``{package}`` in the template's per-file exceptions.
    """

    file: str
    config: Config | None = None
    problem: str | None = None
    package: str = "*"


def package_name(pyproject_file: Loaded, copier_answers: Loaded) -> str:
    """Return the project's import name, which its per-file ruff exceptions mention."""
    backend = mapping(mapping(mapping(pyproject_file.data).get("tool")).get("uv"))
    module = mapping(backend.get("build-backend")).get("module-name")
    if isinstance(module, str):
        return module
    name = mapping(copier_answers.data).get("package_name")
    return name if isinstance(name, str) else "*"


def ruff_settings(
    root: Traversable, pyproject_file: Loaded, copier_answers: Loaded
) -> RuffSettings:
    """The settings ruff runs with: .ruff.toml, then ruff.toml, then [tool.ruff]."""
    folder = local(root)
    package = package_name(pyproject_file, copier_answers)
    for name in (".ruff.toml", "ruff.toml"):
        found = load(folder, name, "toml")
        if found.present:
            return RuffSettings(name, found.data, found.problem, package)
    if pyproject_file.problem is not None:
        return RuffSettings("pyproject.toml", problem=pyproject_file.problem, package=package)
    tool = mapping(mapping(pyproject_file.data).get("tool"))
    table = tool.get("ruff")
    return RuffSettings(
        "pyproject.toml", table if isinstance(table, dict) else None, package=package
    )
