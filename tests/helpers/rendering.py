"""Shared helpers of the template test suite: answers, rendering, walking and running.

Test modules import these names; fixtures that hold state live in ``conftest.py``.
"""

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import copier
import yaml

ROOT = Path(__file__).resolve().parents[2]
COPIER_YML = ROOT / "copier.yml"
# What Copier reads from this repository: everything else (tests, docs) is not template.
TEMPLATE_PARTS = ("copier.yml", "includes", "template")

Answers = dict[str, Any]
Render = tuple[Path, Answers]

# Git with an identity and without the user's configuration (hooks, signing, templates).
GIT_ENVIRONMENT = {
    "GIT_AUTHOR_NAME": "copier-ml tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "copier-ml tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}

# Settings of the template repository's own run that must not leak into a render's tools:
# its virtualenv and lock policy (.ci/run sets UV_LOCKED; a fresh render has no lock yet),
# and PYTHONDONTWRITEBYTECODE, so renders write bytecode as on a developer's machine.
PROJECT_STATE_VARIABLES = (
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONDONTWRITEBYTECODE",
    "UV_PROJECT",
    "UV_PROJECT_ENVIRONMENT",
    "UV_LOCKED",
    "UV_FROZEN",
    "UV_NO_SYNC",
)

# Valid answers that break naive templates: quotes of both kinds, Jinja delimiters, comment
# and key/value characters, backslashes (one at the very end), `$`, HTML, emoji and CJK,
# argparse's `%(prog)s`, and the typography linters take for look-alikes of ASCII (dashes,
# curly quotes, a no-break space, a lone Cyrillic letter, fullwidth brackets).
HOSTILE: Answers = {
    "project_name": 'Zoë\'s "Quoted" {{ ML }} #1 \N{EN DASH} \\ Project',
    "description": (
        'He said "hi" # not a comment: {{ jinja }} {% raw %} back\\slash ünïcödé 🚀 '
        '\'single\' $HOME `tick` <b>&amp;</b> """triple""" 100% %(prog)s '
        "it\N{RIGHT SINGLE QUOTATION MARK}s \N{LEFT DOUBLE QUOTATION MARK}fine\N{RIGHT DOUBLE QUOTATION MARK} "
        "\N{EM DASH} \N{CYRILLIC SMALL LETTER A}\N{NO-BREAK SPACE}\N{MULTIPLICATION SIGN}"
        "\N{NO-BREAK SPACE}\N{FULLWIDTH LEFT PARENTHESIS}x\N{FULLWIDTH RIGHT PARENTHESIS} "
        "and a trailing backslash \\"
    ),
    "author_name": 'Zoë O\N{RIGHT SINGLE QUOTATION MARK}Brien-"Ziggy" \\ 山田\N{NO-BREAK SPACE}Jr.',
}
# The longest names the validators accept: generated code must stay formatted at any length.
LONG_NAMES: Answers = {
    "project_slug": "a-project-slug-as-long-as-the-validators-allow-xyz",
    "package_name": "a_package_name_as_long_as_allowed_abcdef",
}
# Every option on (booleans, tracking, data versioning), with the hostile text answers.
ALL_ON: Answers = {
    **HOSTILE,
    "serving": True,
    "docker": True,
    "kubernetes": True,
    "experiment_tracking": "mlflow",
    "data_versioning": "dvc",
    "distributed": "ray",
}
# A generated project's own checks, each run with `uv run` in an installed render.
PROJECT_CHECKS: dict[str, list[str]] = {
    "ruff-check": ["ruff", "check"],
    "ruff-format": ["ruff", "format", "--check"],
    "mypy": ["mypy"],
    "pytest": ["pytest"],
}


@cache
def copier_entries() -> dict[str, dict[str, Any]]:
    """Return the questions and computed values of copier.yml by name (settings left out)."""
    config = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))
    return {name: spec for name, spec in config.items() if not name.startswith("_")}


def questions() -> dict[str, dict[str, Any]]:
    """Return the questions of copier.yml, in the order they are asked."""
    return {name: spec for name, spec in copier_entries().items() if spec.get("when") is not False}


def computed_values() -> dict[str, dict[str, Any]]:
    """Return the computed values of copier.yml (``when: false``): derived, never asked."""
    return {name: spec for name, spec in copier_entries().items() if spec.get("when") is False}


def choices_of(name: str) -> list[Any]:
    """Return every value a choice or boolean question accepts, in copier.yml order."""
    spec = questions()[name]
    if spec["type"] == "bool":
        return [False, True]
    options = spec["choices"]
    return list(options.values()) if isinstance(options, dict) else list(options)


def is_consistent(answers: Mapping[str, Any]) -> bool:
    """Tell whether a combination of answers is one Copier accepts."""
    if answers.get("kubernetes") and answers.get("docker") is False:
        return False
    return not (
        answers.get("ml_framework") == "tensorflow" and answers.get("python_version") == "3.14"
    )


def pairwise_answers() -> list[Answers]:
    """Return answer sets that cover every pair of values of every two choice questions.

    A greedy covering array: each new set starts from the smallest uncovered pair and fills
    the other questions with the value that covers the most pairs still uncovered. The
    result is deterministic and far smaller than the full product (26 sets).
    """
    params = {
        name: choices_of(name)
        for name, spec in questions().items()
        if spec["type"] == "bool" or "choices" in spec
    }
    names = list(params)

    def pairs_of(row: Mapping[str, Any]) -> set[tuple[str, str, str, str]]:
        return {
            (a, repr(row[a]), b, repr(row[b]))
            for a, b in itertools.combinations(names, 2)
            if a in row and b in row
        }

    uncovered = {
        pair
        for a, b in itertools.combinations(names, 2)
        for va in params[a]
        for vb in params[b]
        if is_consistent({a: va, b: vb})
        for pair in pairs_of({a: va, b: vb})
    }
    values = {name: {repr(v): v for v in params[name]} for name in names}
    rows: list[Answers] = []
    while uncovered:
        a, va, b, vb = min(uncovered)
        row: Answers = {a: values[a][va], b: values[b][vb]}
        for name in names:
            if name in row:
                continue
            candidates = [v for v in params[name] if is_consistent({**row, name: v})]
            gains = [len(pairs_of({**row, name: v}) & uncovered) for v in candidates]
            row[name] = candidates[gains.index(max(gains))]
        rows.append({name: row[name] for name in names})
        uncovered -= pairs_of(row)
    return rows


def answer_sets() -> dict[str, Answers]:
    """The answer sets of the quick layer, by name: every render it checks statically.

    The defaults, the hostile and the longest answers, every option on, and the pairwise
    covering array of every choice and boolean question.
    """
    return {
        "defaults": {},
        "hostile": HOSTILE,
        "long-names": LONG_NAMES,
        "all-on": ALL_ON,
        **{f"matrix-{i}": row for i, row in enumerate(pairwise_answers())},
    }


def copy_template(destination: Path) -> Path:
    """Copy the parts of this repository that Copier reads, without Git, to ``destination``.

    Rendering from a plain folder skips the Git clone Copier makes of a repository source,
    and renders uncommitted changes without Copier's dirty-repository warning.
    """
    destination.mkdir(parents=True, exist_ok=True)
    for part in TEMPLATE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(
                source, destination / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / part)
    return destination


def render(
    template: Path,
    destination: Path,
    answers: Mapping[str, Any] | None = None,
    vcs_ref: str | None = None,
) -> Path:
    """Render ``template`` into ``destination`` non-interactively, as ``copier copy --defaults``.

    ``vcs_ref`` picks a tag or commit of a Git template (its newest release by default).
    """
    copier.run_copy(
        str(template),
        destination,
        data=dict(answers or {}),
        vcs_ref=vcs_ref,
        defaults=True,
        unsafe=False,
        quiet=True,
    )
    return destination


def read_answers(project: Path) -> Answers:
    """Return the answers Copier recorded in a rendered project."""
    answers: Answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    return answers


def files_of(project: Path) -> Iterator[Path]:
    """Yield every file of a rendered project, skipping Git, virtualenvs and caches."""
    skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
    for path in sorted(project.rglob("*")):
        if path.is_file() and not skip.intersection(path.relative_to(project).parts):
            yield path


def tool_environment() -> dict[str, str]:
    """Return the environment for tools run on a render.

    uv never downloads Python and uses this interpreter; Git runs with ``GIT_ENVIRONMENT``,
    so commits behave the same on every machine.
    """
    env = dict(os.environ)
    env.update(GIT_ENVIRONMENT)
    env.update(
        # The suite already runs one worker per core: a render's tests that also spread
        # over every core (PyTorch, TensorFlow, BLAS) contend, and tiny models slow down
        # several-fold. One thread each keeps them fast, as on an otherwise idle machine.
        OMP_NUM_THREADS="1",
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_PYTHON=sys.executable,
        UV_NO_PROGRESS="1",
    )
    for name in PROJECT_STATE_VARIABLES:
        env.pop(name, None)
    return env


def run(
    command: list[str],
    cwd: Path,
    *,
    check: bool = True,
    timeout: float = 900,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd``; on failure raise with its full output in the message.

    The command gets ``tool_environment()``, updated with ``env`` when given.
    """
    result = subprocess.run(  # noqa: S603 - commands are built by the tests, no shell
        command,
        cwd=cwd,
        env={**tool_environment(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        message = (
            f"`{' '.join(command)}` exited {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
        raise AssertionError(message)
    return result


def local_wheel_index(package: str, destination: Path) -> str | None:
    """Serve the wheels of ``package`` found in pip's find-links folders as a simple index.

    Machines that keep wheels on disk (``PIP_FIND_LINKS``, e.g. a CPU build of PyTorch)
    let uv install from them instead of a remote index; ``None`` when there are none.
    The result is a ``file://`` URL for uv's ``--index`` / ``UV_INDEX``.
    """
    wheels = sorted(
        wheel
        for folder in os.environ.get("PIP_FIND_LINKS", "").split()
        for wheel in Path(folder).glob(f"{package}-*.whl")
    )
    if not wheels:
        return None
    project = destination / "simple" / package
    project.mkdir(parents=True, exist_ok=True)
    links = "".join(f'<a href="{wheel.as_uri()}">{wheel.name}</a>\n' for wheel in wheels)
    (project / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    return (destination / "simple").as_uri()


def venv_tool(name: str) -> str:
    """Return the path of a console script installed beside the running interpreter."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        message = f"{name} is not installed in the test environment: run `uv sync` first"
        raise FileNotFoundError(message)
    return found


def uv_binary() -> str:
    """Return the uv executable of the test environment (the `uv` package ships it)."""
    from uv import find_uv_bin  # noqa: PLC0415 - only the full layer needs uv

    return find_uv_bin()


def expected_files(answers: Mapping[str, Any]) -> set[str]:
    """Return the relative path of every file a render with these answers must contain.

    This is the manifest of the generated project: a file the template adds, or a file an
    answer switches on or off, is listed here, so a stray or missing file fails the tests.
    """
    package = f"src/{answers['package_name']}"
    modules = ["__init__", "__main__", "_exceptions", "artifacts", "cli", "config", "contract"]
    modules += ["distributions", "evaluate", "explain", "export", "figures", "graphs"]
    modules += ["hyperparameters", "locking", "log"]
    modules += ["metrics", "model", "model_card", "monitoring", "onnx_runtime", "predict"]
    modules += ["prepare", "preprocessing", "privacy", "profiling", "publishing", "records"]
    modules += ["reference", "schema"]
    modules += ["scoring", "sections", "security", "skops_files", "sources", "train", "tune"]
    test_modules = ["conftest", "helpers", "test_artifacts", "test_cli", "test_config"]
    test_modules += ["test_exceptions", "test_explain", "test_export", "test_figures"]
    test_modules += ["test_framework", "test_locking", "test_log", "test_metrics", "test_model"]
    test_modules += ["test_model_card", "test_monitoring", "test_pipeline", "test_predict"]
    test_modules += ["test_prepare", "test_preprocessing", "test_privacy", "test_profiling"]
    test_modules += ["test_records", "test_schema"]
    test_modules += ["test_security", "test_skops_files", "test_sources", "test_tune"]
    benchmarks = ["test_bench_data", "test_bench_onnx", "test_bench_profiling"]
    folders = ["data/raw", "data/processed", "models", "reports/figures"]
    files = {
        ".copier-answers.yml",
        ".gitignore",
        "LICENSE",
        "README.md",
        "configs/default.toml",
        "pyproject.toml",
        f"{package}/py.typed",
        ".pre-commit-config.yaml",
        ".secrets.baseline",
        ".devcontainer/devcontainer.json",
        *(f"{package}/{module}.py" for module in modules),
        *(f"tests/{module}.py" for module in test_modules),
        "tests/tiny.toml",
        "tests/schema.json",
        *(f"benchmarks/{module}.py" for module in benchmarks),
        *(f"{folder}/.gitkeep" for folder in folders),
    }
    return files | delivery_files(answers) | feature_files(answers, package)


def delivery_files(answers: Mapping[str, Any]) -> set[str]:
    """The files of the image, the manifests, CI, DVC and notebooks that the answers add."""
    files: set[str] = set()
    if answers["docker"]:
        files |= {"Dockerfile", ".dockerignore"}
    if answers["docker"] and answers["kubernetes"]:
        workload = ["deployment.yaml", "service.yaml"] if answers["serving"] else ["job.yaml"]
        files |= {f"deploy/base/{name}" for name in ["kustomization.yaml", *workload]}
    if answers["ci_provider"] == "github":
        files |= {".github/workflows/ci.yml", ".github/dependabot.yml"}
        files |= {".github/workflows/template-update.yml"}
        files |= {".github/workflows/image.yml"} if answers["docker"] else set()
    if answers["ci_provider"] == "gitlab":
        files |= {".gitlab-ci.yml", "renovate.json"}
    if answers["ci_provider"] != "none":
        files |= {"scripts/template-update.sh"}
    if answers["data_versioning"] == "dvc":
        files |= {"dvc.yaml", ".dvc/config", ".dvc/.gitignore", ".dvcignore"}
    if answers["notebooks"]:
        files |= {"notebooks/explore.ipynb", "tests/test_notebooks.py"}
    return files


def feature_files(answers: Mapping[str, Any], package: str) -> set[str]:
    """The modules, tests and benchmarks of the optional features the answers switch on."""
    files: set[str] = set()
    if answers["serving"]:
        serving = ["__init__", "app", "auth", "middleware", "monitoring", "schemas"]
        files |= {f"{package}/serving/{module}.py" for module in serving}
        files |= {f"{package}/cli_serving.py", "tests/test_serving.py"}
        files |= {
            f"benchmarks/{name}.py" for name in ("bare_app", "http_load", "test_bench_serving")
        }
    if answers["experiment_tracking"] == "mlflow":
        files |= {f"{package}/tracking.py", f"{package}/cli_tracking.py", "tests/test_tracking.py"}
    if answers["serving"] and answers["experiment_tracking"] == "mlflow":
        files |= {f"{package}/cli_registry.py", "tests/test_cli_registry.py"}
    if answers["distributed"] == "ray":
        files |= {f"{package}/distributed.py", f"{package}/cli_ray.py", "tests/test_distributed.py"}
        files.add("benchmarks/test_bench_distributed.py")
    if answers["distributed"] == "ray" and answers["ml_framework"] == "pytorch":
        files.add("benchmarks/test_bench_data_parallel.py")
    if answers["distributed"] == "ray" and answers["docker"] and answers["kubernetes"]:
        files |= {"deploy/ray/kustomization.yaml", "deploy/ray/rayjob.yaml"}
    return files


def git(cwd: Path, *args: str) -> str:
    """Run a Git command in ``cwd`` and return its standard output."""
    return run(["git", *args], cwd).stdout


def git_commit_all(cwd: Path, message: str, tag: str | None = None) -> None:
    """Stage everything in ``cwd``, commit it, and tag the commit when ``tag`` is given."""
    git(cwd, "add", "--all")
    git(cwd, "commit", "--quiet", "--message", message)
    if tag:
        git(cwd, "tag", tag)


def template_repository(destination: Path, tag: str = "v1.0.0") -> Path:
    """Make a Git repository of the template at ``destination`` with one tagged commit."""
    copy_template(destination)
    git(destination, "init", "--quiet", "--initial-branch=main")
    git_commit_all(destination, "Template as in the working tree", tag=tag)
    return destination
