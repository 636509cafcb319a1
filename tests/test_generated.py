"""Full layer: install representative renders with uv and run each project's own checks.

Every check of one render carries the same ``xdist_group``, so under ``--dist loadgroup`` a
render is installed once, by one worker, and its checks run there in order. The uv cache is
the user's (or ``UV_CACHE_DIR``), shared by every render of the session.

Each ``ml_framework`` is installed once; the options are combined in the "all-on" render.
Besides the project's own checks, each installed render runs its pre-commit hooks, the
commands of its CI file (GitHub's for the defaults, GitLab's for framework-none), and the
image's command in an environment built the way its Dockerfile builds the image.
"""

import hashlib
import importlib.resources
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.delivery import ci_steps, dockerfile_stages, follow_builder, labels_of, skipped_because
from helpers.environment_names import canonical
from helpers.rendering import (
    ALL_ON,
    PROJECT_CHECKS,
    ROOT,
    git,
    git_commit_all,
    local_wheel_index,
    read_answers,
    render,
    run,
    tool_environment,
    uv_binary,
)

RENDERS: dict[str, dict[str, Any]] = {
    "defaults": {},
    # Also the GitLab render: its .gitlab-ci.yml commands run below.
    "framework-none": {"ml_framework": "none", "ci_provider": "gitlab"},
    # With Ray: its tests train on two data-parallel workers and run trials in parallel.
    "framework-pytorch": {"ml_framework": "pytorch", "distributed": "ray"},
    "framework-tensorflow": {"ml_framework": "tensorflow"},
    "all-on": ALL_ON,
}
CHECKS = PROJECT_CHECKS

_installed: dict[str, Path] = {}


def installed(name: str, template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render ``RENDERS[name]`` and ``uv sync`` it, once per test process.

    A PyTorch render installs from the CPU-wheel index its pyproject names; where a CPU
    wheel lies on disk (pip's find-links), that index is pointed at it, by name.
    """
    if name not in _installed:
        work = tmp_path_factory.mktemp(name)
        project = render(template, work / "project", RENDERS[name])
        env = {}
        if RENDERS[name].get("ml_framework") == "pytorch":
            index = local_wheel_index("torch", work / "wheels")
            if index is not None:
                env["UV_INDEX"] = f"pytorch-cpu={index}"
        run([uv_binary(), "sync"], project, env=env)
        _installed[name] = project
    return _installed[name]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "check"),
    [
        pytest.param(name, check, marks=pytest.mark.xdist_group(name), id=f"{name}-{check}")
        for name in RENDERS
        for check in CHECKS
    ],
)
def test_generated_project_passes_its_checks(
    template: Path, tmp_path_factory: pytest.TempPathFactory, name: str, check: str
) -> None:
    project = installed(name, template, tmp_path_factory)
    run([uv_binary(), "run", "--no-sync", *CHECKS[check]], project)


def in_group(names: list[str]) -> list[Any]:
    """Parametrize a test over renders, each in the xdist group that installs it."""
    return [pytest.param(name, marks=pytest.mark.xdist_group(name), id=name) for name in names]


def path_with_uv() -> str:
    """Return this session's PATH with the test environment's uv first, as CI would have it."""
    return f"{Path(uv_binary()).parent}:{os.environ.get('PATH', '')}"


def committed_to_git(project: Path) -> Path:
    """Make the render a Git repository with every file staged, as a checkout would be."""
    if not (project / ".git").exists():
        git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    return project


@pytest.mark.slow
@pytest.mark.parametrize("name", in_group(list(RENDERS)))
def test_pre_commit_passes_and_changes_nothing(
    template: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, name: str
) -> None:
    project = committed_to_git(installed(name, template, tmp_path_factory))
    hooks = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit")}
    command = [uv_binary(), "run", "--no-sync", "pre-commit", "run", "--all-files"]
    run([*command, "--show-diff-on-failure", "--color=never"], project, env=hooks)
    assert git(project, "diff") == "", "a hook changed a freshly generated file"
    assert git(project, "ls-files", "--others", "--exclude-standard") == "", "a hook added files"


ENVIRONMENT_NAMES = Path(__file__).parent / "helpers" / "environment_names.py"
# What the validators could accept: a package_name, and a project_slug.
PACKAGE_NAME = re.compile(r"[a-z][a-z0-9_]*")
PROJECT_SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


@pytest.mark.slow
@pytest.mark.parametrize("name", in_group(list(RENDERS)))
def test_the_validators_refuse_every_name_the_environment_takes(
    template: Path, tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    """A name the dependency closure takes breaks ``uv sync``, an import or a command.

    The lock names every distribution on every platform and Python; the installed
    environment names the top-level modules and the commands. When a new lock brings a
    new name, this fails and says which list in ``includes/`` to add it to.
    """
    project = installed(name, template, tmp_path_factory)
    answers = read_answers(project)
    found = run([uv_binary(), "run", "--no-sync", "python", str(ENVIRONMENT_NAMES)], project)
    taken = json.loads(found.stdout)
    lock = tomllib.loads((project / "uv.lock").read_text(encoding="utf-8"))
    locked = {canonical(package["name"]) for package in lock["package"]}
    lists = {
        "shadowed-modules.txt": (PACKAGE_NAME, set(taken["modules"])),
        "closure-distributions.txt": (PROJECT_SLUG, set(taken["distributions"]) | locked),
        "closure-commands.txt": (PROJECT_SLUG, set(taken["commands"])),
    }
    own = {answers["project_slug"], answers["package_name"]}
    missing = {}
    for file, (acceptable, names) in lists.items():
        listed = set((ROOT / "includes" / file).read_text(encoding="utf-8").split())
        new = {n for n in names if acceptable.fullmatch(n)} - own - listed
        if new:
            missing[file] = sorted(new)
    assert not missing, f"the validators accept names this environment takes; add {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("name", in_group(["defaults", "framework-none"]))
def test_ci_commands_pass_locally(
    template: Path, tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    """Run each command of the CI file, in order, in the render, with the CI's variables.

    The steps that set up the runner (checkout, setup-uv, the job image) are the render and
    this test session here; commands that need a Docker engine are skipped, and so are the
    runner's own cache chores (``delivery.SKIPPED_COMMANDS`` and ``RUNNER_COMMANDS``). A
    command that is one of ``CHECKS`` (``uv run mypy``, ``uv run pytest``...) has passed in
    the same installed render in test_generated_project_passes_its_checks: it is not run twice.
    """
    project = committed_to_git(installed(name, template, tmp_path_factory))
    checked = {" ".join(["uv", "run", *command]) for command in CHECKS.values()}
    commands = []
    for step in ci_steps(project):
        commands.append(step.command)
        if skipped_because(step) or step.command in checked:
            continue
        shell = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step.command]
        run(shell, project, env={**step.environment, "PATH": path_with_uv()})
    assert {"uv sync --locked", "uv run mypy", "uv run pytest"} <= set(commands), commands


def check_export_monitor_and_promotion(project: Path, output: str, test_rows: int) -> None:
    """Check what the first run exported, monitored and promoted.

    The ONNX graph passed its parity check, the held-out rows did not drift, and, with
    MLflow, the first version became the champion.
    """
    parity = json.loads((project / "reports" / "onnx_parity.json").read_text(encoding="utf-8"))
    assert parity["parity"]["passed"] is True
    assert parity["parity"]["same_classes"] is True
    assert parity["parity"]["max_difference"] <= 1e-5
    assert parity["quantized"]["bytes"] > 0
    drift = json.loads((project / "reports/monitoring/drift.json").read_text(encoding="utf-8"))
    assert drift["rows"] == test_rows
    assert drift["drifted"] == []
    if read_answers(project)["experiment_tracking"] == "mlflow":
        assert "champion is now version 1" in output.splitlines()


@pytest.mark.slow
@pytest.mark.parametrize("name", in_group(list(RENDERS)))
def test_readme_first_run_works_on_the_default_config(
    template: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, name: str
) -> None:
    """Run the README's "first run, end to end" commands as written.

    They train, evaluate, promote (with MLflow), export to ONNX, monitor the held-out rows
    and predict them, on the shipped ``configs/default.toml`` in a copy of the installed
    render (with its virtualenv, through ``UV_PROJECT_ENVIRONMENT``), so the data, model and
    reports they write stay out of the render the other tests check. The ONNX graph must
    pass its parity check, the held-out rows must not drift (``monitor`` would exit 3), and
    the first version must become the champion, and an environment holding only what the
    README says an ONNX-only image needs must predict what the model does. Then a malformed
    row must give one ``error:`` line naming the row and the field, and exit 1.
    """
    installed_project = installed(name, template, tmp_path_factory)
    project = tmp_path / "project"
    shutil.copytree(installed_project, project, ignore=shutil.ignore_patterns(".venv", ".git"))
    env = {
        "PATH": path_with_uv(),
        "UV_PROJECT_ENVIRONMENT": str(installed_project / ".venv"),
        "UV_NO_SYNC": "1",
    }
    readme = (project / "README.md").read_text(encoding="utf-8")
    first_run = readme.partition("A first run, end to end")[2]
    commands = first_run.split("```bash\n", 1)[1].split("```", 1)[0]
    shell = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
    output = run([*shell, commands], project, env=env).stdout

    # The README's artifact table lists every file the commands write, and nothing else.
    table = readme.partition("| Step | Files | Contents |")[2].partition("\n\n")[0]
    listed = set(re.findall(r"`((?:data|models|reports)/[^`<]*[^/`])`", table))
    written = {
        path.relative_to(project).as_posix()
        for folder in ("data", "models", "reports")
        for path in (project / folder).rglob("*")
        if path.is_file() and path.name != ".gitkeep"
    }
    assert written <= listed, f"the README's table misses {sorted(written - listed)}"
    for path in sorted(listed):
        assert (project / path).stat().st_size > 0, f"{path} is missing or empty"
        if path.endswith(".png"):
            assert (project / path).read_bytes().startswith(b"\x89PNG"), path

    config = tomllib.loads((project / "configs" / "default.toml").read_text(encoding="utf-8"))
    record = json.loads((project / "models" / "run.json").read_text(encoding="utf-8"))
    assert record["seed"] == config["seed"]
    assert {"settings", "dataset", "schema", "git", "packages", "python"} <= set(record)
    dataset = json.loads((project / "data" / "processed" / "dataset.json").read_text("utf-8"))
    test_rows = dataset["files"]["test.parquet"]["rows"]
    metrics = json.loads((project / "reports" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["test"]["rows"] == test_rows
    assert sum(map(sum, metrics["test"]["confusion_matrix"])) == test_rows
    assert 0.8 <= metrics["test"]["accuracy"] <= 1, "the default model learns the demo"

    check_export_monitor_and_promotion(project, output, test_rows)
    check_onnx_only_environment(project, tmp_path, output)

    predictions = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [prediction["row"] for prediction in predictions] == list(range(1, test_rows + 1))
    for prediction in predictions:
        assert prediction["prediction"] in prediction["probabilities"]
        assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-5)

    # A malformed row: the first feature is not a number; the others take typical values.
    features = record["schema"]["features"]
    first = features[0]["name"]
    row = ["not-a-number", *(str(feature["median"]) for feature in features[1:])]
    header = ",".join(feature["name"] for feature in features)
    (tmp_path / "malformed.csv").write_text(f"{header}\n{','.join(row)}\n", encoding="utf-8")
    slug = read_answers(project)["project_slug"]
    predict = f"uv run {slug} predict < {tmp_path / 'malformed.csv'}"
    refused = run([*shell, predict], project, env=env, check=False)
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.splitlines()[-1] == (
        f"error: standard input: row 1, column '{first}': expected a number, got 'not-a-number'"
    )
    assert "Traceback" not in refused.stderr


ONNX_ONLY = {"matplotlib", "onnx", "scikit-learn", "scipy", "skl2onnx", "skops", "torch"}
ONNX_ONLY |= {"optuna", "ray", "tomli-w"}
ONNX_ONLY |= {"keras", "onnxscript", "tensorflow", "tensorflow-cpu", "tf2onnx"}


def check_onnx_only_environment(project: Path, work: Path, native_output: str) -> None:
    """Install what the README says an ONNX-only image needs, and predict with it.

    The README's ``uv export`` command writes the requirements, which must leave out every
    training library; a fresh virtualenv gets them and the package without its
    dependencies; its ``predict --runtime onnx`` of the test rows must print what the
    first run's native ``predict`` printed.
    """
    readme = (project / "README.md").read_text(encoding="utf-8")
    section = readme.partition("## ONNX export")[2].partition("\n## ")[0]
    export_command = section.split("```bash\n", 1)[1].split("```", 1)[0]
    shell = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
    run([*shell, export_command], project, env={"PATH": path_with_uv()})
    requirements = (project / "requirements-onnx.txt").read_text(encoding="utf-8")
    listed = {line.split("==")[0] for line in requirements.splitlines() if "==" in line}
    assert {"onnxruntime", "pandas", "pyarrow"} <= listed
    assert listed.isdisjoint(ONNX_ONLY), listed & ONNX_ONLY
    slim = work / "slim"
    run([uv_binary(), "venv", str(slim)], project)
    python = ["--python", str(slim / "bin" / "python")]
    run([uv_binary(), "pip", "install", *python, "-r", "requirements-onnx.txt"], project)
    run([uv_binary(), "pip", "install", *python, "--no-deps", "."], project)
    slug = read_answers(project)["project_slug"]
    test_rows = str(project / "data" / "processed" / "test.parquet")
    command = [str(slim / "bin" / slug), "predict", "--runtime", "onnx", test_rows]
    onnx_lines = run(command, project).stdout.splitlines()
    native_lines = [line for line in native_output.splitlines() if line.startswith("{")]
    assert len(onnx_lines) == len(native_lines) > 0
    for ours, theirs in zip(onnx_lines, native_lines, strict=True):
        onnx_prediction, native_prediction = json.loads(ours), json.loads(theirs)
        assert onnx_prediction["prediction"] == native_prediction["prediction"]
        assert onnx_prediction["probabilities"] == pytest.approx(
            native_prediction["probabilities"], abs=1e-5
        )


def penguins(name: str) -> Path:
    """A file of the palmerpenguins package: real penguin measurements, with gaps and text."""
    return Path(str(importlib.resources.files("palmerpenguins") / "data" / name))


OWN_DATA: dict[str, tuple[str, dict[str, Any]]] = {
    # Text labels with spaces and parentheses, text and yes/no categories, a date and free
    # text to drop, an ID column, missing values: the raw table as the study published it.
    "classification": (
        "penguins-raw.csv",
        {
            "target": "Species",
            "id_columns": ["Individual ID"],
            "drop": ["studyName", "Sample Number", "Date Egg", "Comments"],
        },
    ),
    "regression": ("penguins.csv", {"target": "body_mass_g"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("task", list(OWN_DATA))
@pytest.mark.parametrize("name", in_group(list(RENDERS)))
def test_own_data_trains_evaluates_and_predicts(
    template: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, name: str, task: str
) -> None:
    """A third-party table in data/raw/, two settings, and the commands work: no code change.

    The settings file is the shipped ``configs/default.toml`` with its ``[data]`` section
    naming the file and the target, in a copy of the installed render.
    """
    installed_project = installed(name, template, tmp_path_factory)
    project = tmp_path / "project"
    shutil.copytree(installed_project, project, ignore=shutil.ignore_patterns(".venv", ".git"))
    file_name, data = OWN_DATA[task]
    shutil.copy(penguins(file_name), project / "data" / "raw" / file_name)
    config = (project / "configs" / "default.toml").read_text(encoding="utf-8")
    for key, value in {"source": f"data/raw/{file_name}", **data}.items():
        config, found = re.subn(
            rf"^{key} = .*$", f"{key} = {json.dumps(value)}", config, flags=re.M
        )
        assert found == 1, f"configs/default.toml has no line for data.{key}"
    (project / "configs" / "default.toml").write_text(config, encoding="utf-8")
    env = {"UV_PROJECT_ENVIRONMENT": str(installed_project / ".venv"), "UV_NO_SYNC": "1"}
    slug = read_answers(project)["project_slug"]
    for command in ("train", "evaluate"):
        run([uv_binary(), "run", slug, command], project, env=env)
    metrics = json.loads((project / "reports" / "metrics.json").read_text(encoding="utf-8"))
    if task == "classification":
        assert metrics["test"]["accuracy"] > 0.9, metrics
        assert set(metrics["test"]["per_class"]) == {
            "Adelie Penguin (Pygoscelis adeliae)",
            "Chinstrap penguin (Pygoscelis antarctica)",
            "Gentoo penguin (Pygoscelis papua)",
        }
    else:
        assert metrics["test"]["r2"] > 0.7, metrics
    source = project / "data" / "raw" / file_name
    predicted = run([uv_binary(), "run", slug, "predict", str(source)], project, env=env)
    predictions = [json.loads(line) for line in predicted.stdout.splitlines()]
    rows = source.read_text(encoding="utf-8").count("\n") - 1
    assert len(predictions) == rows
    if task == "classification":
        assert all(
            set(p) == {"row", "Individual ID", "prediction", "probabilities"} for p in predictions
        )
        assert predictions[0]["Individual ID"] == "N1A1"
    else:
        assert all(isinstance(p["prediction"], float) for p in predictions)


def run_benchmarks(project: Path, arguments: list[str], setting: str, value: str) -> str:
    """Run the project's benchmarks with ``<PREFIX><setting>=<value>``; return their output."""
    prefix = read_answers(project)["package_name"].upper() + "_"
    command = ["pytest", *arguments, "--no-cov", "-n", "0", "-s", "-p", "no:cacheprovider"]
    result = run(
        [uv_binary(), "run", "--no-sync", *command], project, env={prefix + setting: value}
    )
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", in_group(["defaults"]))
def test_benchmarks_run(
    template: Path, tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    """The benchmarks run, each once, on a small file (their timings are not asserted)."""
    project = installed(name, template, tmp_path_factory)
    output = run_benchmarks(
        project, ["benchmarks", "--benchmark-disable"], "BENCHMARK_ROWS", "20000"
    )
    assert " passed" in output


@pytest.mark.slow
@pytest.mark.parametrize("name", in_group(["all-on"]))
def test_serving_benchmark_runs(
    template: Path, tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    """The API and the bare app start, answer every request, and the flood is refused."""
    project = installed(name, template, tmp_path_factory)
    output = run_benchmarks(
        project, ["benchmarks/test_bench_serving.py"], "BENCHMARK_SECONDS", "0.5"
    )
    assert "2 passed" in output
    assert re.search(r"/predict\s+64\s+\d+\s+\d+\s+[0-9.]+", output), output
    assert "clients without a token send 645,000-byte bodies" in output


@pytest.mark.slow
# framework-none: the recipe is the same for every framework, and NumPy alone compiles fast.
@pytest.mark.parametrize("name", in_group(["framework-none"]))
def test_image_command_runs_as_the_dockerfile_builds_it(
    template: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, name: str
) -> None:
    """Follow the Dockerfile's builder stage on this machine, then run its entry command.

    Each COPY brings the files the build context admits, each bind mount is there only for
    its RUN, each RUN runs with the stage's ENV (uv from this session stands in for the uv
    image). Then everything but the virtual environment is removed, as the runtime stage
    copies only that, and ENTRYPOINT + CMD run with the runtime's ENV.
    """
    project = installed(name, template, tmp_path_factory)
    _, builder, runtime = dockerfile_stages((project / "Dockerfile").read_text(encoding="utf-8"))
    app = tmp_path / "app"  # the WORKDIR of both stages
    app.mkdir()
    follow_builder(project, builder, app, path_with_uv())
    for leftover in app.iterdir():
        if leftover.name != ".venv":
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()

    runtime_env = {
        key: value.replace("/app", str(app)).replace("$PATH", os.environ.get("PATH", ""))
        for key, value in runtime.environment().items()
    }
    (entrypoint,) = [i.exec_form() for i in runtime.each("ENTRYPOINT")]
    (command,) = [i.exec_form() for i in runtime.each("CMD")]
    result = run([*entrypoint, *command], app, env=runtime_env)
    slug = read_answers(project)["project_slug"]
    assert f"{slug} 0.1.0" in result.stdout
    assert str(app / ".venv") in result.stdout, "the command ran outside the image's venv"


def docker_engine_answers() -> bool:
    """Tell whether a Docker engine answers here (this machine has none)."""
    if shutil.which("docker") is None:
        return False
    return run(["docker", "info"], Path.cwd(), check=False, timeout=60).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not docker_engine_answers(), reason="no Docker engine answers `docker info`")
@pytest.mark.parametrize("name", in_group(["defaults", "all-on"]))
def test_docker_image_builds_and_runs(
    template: Path, tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    project = installed(name, template, tmp_path_factory)
    answers = read_answers(project)
    tag = f"copier-ml-test/{answers['project_slug']}:{name}"
    run(["docker", "build", "--tag", tag, "."], project)
    try:
        inspected = run(
            ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag], project
        )
        expected = labels_of(
            dockerfile_stages((project / "Dockerfile").read_text(encoding="utf-8"))[-1]
        )
        assert expected.items() <= json.loads(inspected.stdout).items()
        assert expected["org.opencontainers.image.description"] == answers["description"]
        version = run(["docker", "run", "--rm", tag, "--version"], project)
        assert version.stdout.strip() == f"{answers['project_slug']} 0.1.0"
        if not answers["serving"]:
            run(["docker", "run", "--rm", tag], project)
    finally:
        run(["docker", "image", "rm", "--force", tag], project, check=False)


def digests(folder: Path) -> dict[str, str]:
    """Return the SHA-256 of every file under ``folder``, by relative path."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", in_group(["all-on"]))
def test_dvc_pipeline_reproduces_and_round_trips_through_a_remote(
    template: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, name: str
) -> None:
    """`dvc repro` runs prepare, train, evaluate and export, then skips them; push/pull restore.

    The render ships the files `dvc init` makes (checked against a real `dvc init`), so it
    runs in a copy of the installed render (its own Git repository, the same virtualenv):
    the outputs it writes do not touch the render other tests check.
    """
    installed_project = installed(name, template, tmp_path_factory)
    project = tmp_path / "project"
    shutil.copytree(installed_project, project, ignore=shutil.ignore_patterns(".venv", ".git"))
    git(project, "init", "--quiet", "--initial-branch=main")
    git_commit_all(project, "Generate the project")
    # The stages call the project's command: its virtualenv comes first on PATH.
    bin_dir = installed_project / ".venv" / "bin"
    venv = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    dvc = [str(bin_dir / "dvc")]

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    git(scratch, "init", "--quiet")
    run([*dvc, "init", "--quiet"], scratch, env=venv)
    for name_of_file in (".dvc/.gitignore", ".dvcignore"):
        assert (project / name_of_file).read_text() == (scratch / name_of_file).read_text()

    first = run([*dvc, "repro"], project, env=venv).stdout
    stages = ("prepare", "train", "evaluate", "export")
    for stage in stages:
        assert f"Running stage '{stage}'" in first
    lock = yaml.safe_load((project / "dvc.lock").read_text(encoding="utf-8"))
    assert set(lock["stages"]) == set(stages)
    assert (project / "reports" / "metrics.json").is_file()
    assert (project / "models" / "model.onnx").is_file()
    again = run([*dvc, "repro"], project, env=venv).stdout
    assert again.count("didn't change, skipping") == len(stages), again
    assert "up to date" in run([*dvc, "status"], project, env=venv).stdout
    assert git(project, "status", "--porcelain") == "?? dvc.lock\n", "outputs must be ignored"

    remote = tmp_path / "remote"
    run([*dvc, "remote", "add", "--local", "--default", "scratch", str(remote)], project, env=venv)
    run([*dvc, "push"], project, env=venv)
    folders = ("data/processed", "models", "reports")
    outputs = {folder: digests(project / folder) for folder in folders}
    for folder in outputs:  # leave what a fresh clone has: the folders' .gitkeep markers
        for path in (project / folder).rglob("*"):
            if path.is_file() and path.name != ".gitkeep":
                path.unlink()
    shutil.rmtree(project / ".dvc" / "cache")
    run([*dvc, "pull"], project, env=venv)
    assert {folder: digests(project / folder) for folder in outputs} == outputs
    assert "test.accuracy" in run([*dvc, "metrics", "show"], project, env=venv).stdout


OUTBOUND = Path(__file__).parent / "outbound"
# Ray's head process asks the cloud metadata services which cloud it runs on, at every start
# and whatever RAY_USAGE_STATS_ENABLED says (ray._common.usage.usage_lib,
# get_cluster_config_to_report). The addresses are link-local or inside a provider's network,
# carry nothing of the project, and are refused here like any other; the README says so.
RAY_METADATA_PROBES = {"'169.254.169.254'", "'metadata.google.internal'"}


def own_addresses() -> str:
    """Return this machine's own addresses, comma-separated.

    Those its name resolves to, and those of the interfaces that would route outward, which
    Ray's processes use to reach each other: connecting a UDP socket only picks the route,
    and sends nothing.
    """
    addresses = {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    for family, documentation_address in (
        (socket.AF_INET, "198.51.100.1"),
        (socket.AF_INET6, "2001:db8::1"),
    ):
        with socket.socket(family, socket.SOCK_DGRAM) as route:
            try:
                route.connect((documentation_address, 9))
            except OSError:
                continue  # no route of this family
            addresses.add(str(route.getsockname()[0]))
    return ",".join(sorted(addresses))


def free_port() -> int:
    """Return a TCP port nothing listens on at the moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_one_request(
    project: Path, env: dict[str, str], command: str, row: dict[str, Any]
) -> None:
    """Start ``command serve``, wait until it is ready, send one ``/predict``, and stop it."""
    token = secrets.token_urlsafe(32)
    port = free_port()
    prefix = read_answers(project)["package_name"].upper() + "_"
    server_env = {**tool_environment(), **env, f"{prefix}SERVING__TOKENS": json.dumps([token])}
    serve = [command, "serve", "--port", str(port)]
    with subprocess.Popen(serve, cwd=project, env=server_env) as server:  # noqa: S603
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(120):
                try:
                    with urllib.request.urlopen(f"{url}/ready", timeout=2):  # noqa: S310
                        break
                except OSError:
                    time.sleep(0.5)
            request = urllib.request.Request(  # noqa: S310 - loopback
                f"{url}/predict",
                data=json.dumps({"rows": [row]}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                assert len(json.load(answer)["predictions"]) == 1
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("name", in_group(["all-on"]))
def test_pipeline_commands_contact_nothing_but_this_machine(
    template: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, name: str
) -> None:
    """Record every connection and lookup of `dvc repro`, predict, tune on Ray and serve.

    Every Python process of the commands (DVC's stages, Ray's workers, the server) loads
    ``tests/outbound/sitecustomize.py``, which logs and refuses any connection that would
    leave the machine: MLflow's telemetry, DVC's analytics and update check, and Ray's usage
    statistics must all be off. The recorder itself is checked first on a refused address.
    """
    installed_project = installed(name, template, tmp_path_factory)
    project = tmp_path / "project"
    shutil.copytree(installed_project, project, ignore=shutil.ignore_patterns(".venv", ".git"))
    git(project, "init", "--quiet", "--initial-branch=main")
    git_commit_all(project, "Generate the project")
    log = tmp_path / "outbound.jsonl"
    bin_dir = installed_project / ".venv" / "bin"
    env = {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(OUTBOUND),
        "OUTBOUND_LOG": str(log),
        "OUTBOUND_OWN_ADDRESSES": own_addresses(),
    }
    python = str(bin_dir / "python")
    probe = "import socket\ntry:\n    socket.create_connection(('198.51.100.1', 9), timeout=1)\nexcept PermissionError:\n    print('refused')"
    assert run([python, "-c", probe], project, env=env).stdout == "refused\n"
    assert "198.51.100.1" in log.read_text(encoding="utf-8")
    log.unlink()

    slug = str(bin_dir / read_answers(project)["project_slug"])
    run([str(bin_dir / "dvc"), "repro"], project, env=env)
    run([slug, "predict", "data/processed/test.parquet"], project, env=env)
    run([slug, "tune", "--workers", "2", "--trials", "2"], project, env=env)
    record = json.loads((project / "models" / "run.json").read_text(encoding="utf-8"))
    row = {feature["name"]: feature["median"] for feature in record["schema"]["features"]}
    serve_one_request(project, env, slug, row)

    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert entries, "the commands looked up no address at all: is the recorder loaded?"
    outbound = [
        entry
        for entry in entries
        if not entry["local"]
        and not (entry["host"] in RAY_METADATA_PROBES and "ray/dashboard" in entry["argv"][0])
    ]
    assert outbound == []


FAULTS = Path(__file__).parent / "faults"
# What a killed command may leave, which the next command that holds the lock removes.
LEFTOVERS = (".partial.*", ".training-*", ".replaced-*")


def leftovers(project: Path) -> list[str]:
    """Return what killed commands left in the project (the virtualenv aside)."""
    found = {path for pattern in LEFTOVERS for path in project.rglob(pattern)}
    return sorted(str(p.relative_to(project)) for p in found if ".venv" not in p.parts)


def log_loss_of(project: Path) -> float:
    """Return the test log loss of the last ``evaluate``: it tells two models apart."""
    metrics = json.loads((project / "reports" / "metrics.json").read_text(encoding="utf-8"))
    return float(metrics["test"]["log_loss"])


class Commands:
    """A project's command line, run through ``fault_injection serve`` (see its docstring).

    Each run is a child forked from one interpreter that has imported the package, so a run
    costs the command's work, not its imports.
    """

    def __init__(self, project: Path, python: Path, env: dict[str, str]) -> None:
        """Start the server for ``project``, with ``python`` of its environment."""
        self.project, self.log = project, project.parent / "commands.log"
        self.server = subprocess.Popen(  # noqa: S603 - fixed command, no shell
            [str(python), "-m", "fault_injection", "serve", read_answers(project)["package_name"]],
            cwd=project,
            env={**tool_environment(), **env, "PYTHONPATH": str(FAULTS)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def status(self, *argv: str, kill_at: int = 0, env: dict[str, str] | None = None) -> int:
        """Run the command ``argv``, killed at write ``kill_at``; return its exit status."""
        assert self.server.stdin is not None
        assert self.server.stdout is not None
        self.log.write_text("", encoding="utf-8")
        request = {"argv": argv, "env": env or {}, "kill_at": kill_at, "log": str(self.log)}
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        return int(self.server.stdout.readline())

    def ok(self, *argv: str) -> None:
        """Run the command ``argv``; it must succeed."""
        assert self.status(*argv) == 0, self.log.read_text(encoding="utf-8")

    def close(self) -> None:
        """Stop the server."""
        self.server.communicate(timeout=60)


def killed_at_every_write(
    commands: Commands, argv: list[str], env: dict[str, str] | None = None
) -> Iterator[int]:
    """Run ``argv`` killed at its 1st, 2nd, ... write until it completes; yield each kill."""
    for kill_at in range(1, 500):
        status = commands.status(*argv, kill_at=kill_at, env=env)
        if status == 0:
            return
        assert status == -signal.SIGKILL, commands.log.read_text(encoding="utf-8")
        yield kill_at
    pytest.fail(f"{argv} was still writing after 500 writes")


def check_killed_trains(commands: Commands) -> None:
    """Kill ``train`` at each of its writes, and check what the next ``evaluate`` trusts.

    It must score the previous model or the complete new one, and leave nothing behind.
    """
    project = commands.project
    package = read_answers(project)["package_name"]
    previous, pristine = log_loss_of(project), project.parent / "pristine"
    shutil.copytree(project / "models", pristine)
    # The killed runs train another model: a stronger penalty, on the same split.
    other_model = {f"{package.upper()}_MODEL": '{"l2": 0.5}'}
    kills = 0
    for kills in killed_at_every_write(commands, ["train"], other_model):
        commands.ok("evaluate")
        assert leftovers(project) == [], f"killed at write {kills}"
        record = json.loads((project / "models" / "run.json").read_text(encoding="utf-8"))
        penalty = record["settings"]["model"]["l2"]
        assert penalty in {0.0001, 0.5}, f"killed at write {kills}"
        if penalty == 0.0001:  # the previous model, whole
            assert log_loss_of(project) == previous, f"killed at write {kills}"
        shutil.rmtree(project / "models")
        shutil.copytree(pristine, project / "models")
    assert kills > 10, "train was killed at too few writes to exercise saving and publishing"
    shutil.rmtree(project / "models")  # the run that was not killed replaced the model
    shutil.copytree(pristine, project / "models")
    commands.ok("evaluate")


def check_killed_evaluates(commands: Commands) -> None:
    """Kill ``evaluate`` at each of its writes; the next one must succeed and clean up."""
    previous, kills = log_loss_of(commands.project), 0
    for kills in killed_at_every_write(commands, ["evaluate"]):
        commands.ok("evaluate")
        assert leftovers(commands.project) == [], f"killed at write {kills}"
        assert log_loss_of(commands.project) == previous, f"killed at write {kills}"
    assert kills > 5


def check_concurrent_trains(project: Path, slug: str, python: Path, env: dict[str, str]) -> None:
    """Run two trains at once: the second waits, naming the first, and both succeed.

    The first is held at its third write (after the lock file and the holder file) until
    the second says what it waits for.
    """
    answers = read_answers(project)
    previous, work = log_loss_of(project), project.parent
    release, logs = work / "release", [work / "first.log", work / "second.log"]
    held = {"PYTHONPATH": str(FAULTS), "FAULT_PAUSE_AT": "3", "FAULT_RELEASE": str(release)}
    first = [str(python), "-m", "fault_injection", answers["package_name"], "train"]
    processes = []
    for log, command, environment in zip(
        logs, [first, [slug, "train"]], [{**env, **held}, env], strict=True
    ):
        with log.open("w", encoding="utf-8") as stderr:
            processes.append(
                subprocess.Popen(  # noqa: S603 - fixed command, no shell
                    command,
                    cwd=project,
                    env={**tool_environment(), **environment},
                    stderr=stderr,
                )
            )
        while not (project / ".pipeline.lock.json").exists() and log == logs[0]:
            assert processes[0].poll() is None, logs[0].read_text(encoding="utf-8")
            time.sleep(0.05)
    deadline = time.monotonic() + 300
    while "waiting for `" not in logs[1].read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, logs[1].read_text(encoding="utf-8")
        time.sleep(0.05)
    release.touch()
    assert [process.wait(timeout=600) for process in processes] == [0, 0]
    waited_for = f"`{answers['project_slug']} train` (process {processes[0].pid}, since "
    assert waited_for in logs[1].read_text(encoding="utf-8")
    run([slug, "evaluate"], project, env=env)
    assert log_loss_of(project) == previous
    assert leftovers(project) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", in_group(["framework-none"]))
def test_commands_killed_at_any_write_leave_nothing_a_later_command_trusts(
    template: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, name: str
) -> None:
    """Kill ``train`` and ``evaluate`` at each of their writes; then run two trains at once.

    After each kill, the next ``evaluate`` (which holds the project's lock, and so cleans up)
    must succeed on the previous model, or on the complete new one, and leave no partial
    file, staging folder or backup behind. Two concurrent trains must both succeed, one
    after the other, and leave a model that evaluates.
    """
    installed_project = installed(name, template, tmp_path_factory)
    project = tmp_path / "project"
    shutil.copytree(installed_project, project, ignore=shutil.ignore_patterns(".venv", ".git"))
    bin_dir = installed_project / ".venv" / "bin"
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    commands = Commands(project, bin_dir / "python", env)
    try:
        commands.ok("train")
        commands.ok("evaluate")
        check_killed_trains(commands)
        check_killed_evaluates(commands)
    finally:
        commands.close()
    slug = str(bin_dir / read_answers(project)["project_slug"])
    check_concurrent_trains(project, slug, bin_dir / "python", env)
