"""The standard a copier-ml project starts with, as the conformance check compares it.

These are the settings of this release of the template that keep a project's code checked:
the ruff rule selection and its exceptions, strict mypy, the pre-commit hooks and the CI's
checks. The template's test suite renders projects and asserts that they carry exactly
these values, so the check and the template cannot disagree.
"""

# [tool.ruff.lint] of a generated pyproject.toml.
RUFF_SELECT = (
    "A", "ANN", "ARG", "B", "BLE", "C4", "D", "DTZ", "E", "ERA", "F", "FBT", "G", "I", "ICN",
    "LOG", "N", "NPY", "PERF", "PGH", "PIE", "PL", "PT", "PTH", "RET", "RSE", "RUF", "S", "SIM",
    "SLF", "T10", "T20", "TC004", "TID", "TRY", "UP", "W",
)  # fmt: skip
RUFF_IGNORE = ("D301", "E501", "PLR2004", "TRY003")
# Per-file exceptions; ``{package}`` stands for the project's import name.
RUFF_PER_FILE_IGNORES: dict[str, tuple[str, ...]] = {
    # The command line prints, and imports the pipeline only in the command that needs it.
    "src/{package}/cli.py": ("PLC0415", "T201"),
    "src/{package}/cli_*.py": ("PLC0415", "T201"),
    # The package docstring quotes the project's name and description as written.
    "src/{package}/__init__.py": ("RUF002",),
    # Generic functions keep the ParamSpec and TypeVar form that Python 3.11 reads.
    "src/{package}/artifacts.py": ("UP047",),
    "src/{package}/profiling.py": ("UP047",),
    "tests/**": ("D", "FBT001", "PLR0913", "PLR0917", "S101", "SLF001"),
    "benchmarks/**": ("D", "S101", "T201"),
}

# [tool.mypy]: strict, on every folder of code, with these extra error codes.
MYPY_FILES = ("src", "tests", "benchmarks")
MYPY_ENABLED_ERROR_CODES = (
    "ignore-without-code",
    "redundant-expr",
    "truthy-bool",
    "possibly-undefined",
)
# The flags `strict = true` turns on, with the value it gives each: setting one to the
# other value, globally or for some modules, switches that part of strict mode off.
MYPY_STRICT_FLAGS: dict[str, bool] = {
    "disallow_any_generics": True,
    "disallow_subclassing_any": True,
    "disallow_untyped_calls": True,
    "disallow_untyped_defs": True,
    "disallow_incomplete_defs": True,
    "check_untyped_defs": True,
    "disallow_untyped_decorators": True,
    "warn_redundant_casts": True,
    "warn_unused_ignores": True,
    "warn_return_any": True,
    "implicit_reexport": False,
    "strict_equality": True,
    "extra_checks": True,
}
# Set beside `strict` by the template.
MYPY_EXTRA_FLAGS: dict[str, bool] = {"warn_unreachable": True}
# On by default, so the template need not set them; switching one off weakens the checks.
MYPY_DEFAULT_FLAGS: dict[str, bool] = {"strict_optional": True}

# The hooks of .pre-commit-config.yaml, by id, with the command each runs, and the files the
# template keeps from a hook (no other hook has `files` or `exclude`).
PRE_COMMIT_HOOKS: dict[str, str] = {
    "ruff-check": "uv run --frozen ruff check --fix --force-exclude",
    "ruff-format": "uv run --frozen ruff format --force-exclude",
    "mypy": "uv run --frozen mypy",
    "trailing-whitespace": "uv run --frozen trailing-whitespace-fixer",
    "end-of-file-fixer": "uv run --frozen end-of-file-fixer",
    "mixed-line-ending": "uv run --frozen mixed-line-ending --fix=lf",
    "check-yaml": "uv run --frozen check-yaml",
    "check-toml": "uv run --frozen check-toml",
    "check-json": "uv run --frozen check-json",
    "check-merge-conflict": "uv run --frozen check-merge-conflict --assume-in-merge",
    "check-case-conflict": "uv run --frozen check-case-conflict",
    "check-added-large-files": "uv run --frozen check-added-large-files --maxkb=500 --enforce-all",
    "detect-private-key": "uv run --frozen detect-private-key",
    "detect-secrets": "uv run --frozen detect-secrets-hook --baseline .secrets.baseline",
}
# Hooks that come with some answers (notebooks, GitHub Actions): checked where present.
OPTIONAL_PRE_COMMIT_HOOKS: dict[str, str] = {
    "nbstripout": "uv run --frozen nbstripout",
    "zizmor": "uv run --frozen zizmor --offline --persona=pedantic --no-progress",
}
PRE_COMMIT_EXCLUDES: dict[str, str] = {
    "check-added-large-files": r"^uv\.lock$",
    "detect-secrets": r"^(uv\.lock|\.secrets\.baseline)$",
}

# The CI file of each ci_provider, and the checks its commands must still run.
CI_FILES = {"github": ".github/workflows/ci.yml", "gitlab": ".gitlab-ci.yml"}
CI_COMMANDS = ("ruff check", "ruff format --check", "mypy", "pytest")
