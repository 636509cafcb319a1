"""Quick layer: the delivery files of every render pass the tools that consume them.

The quick layer's renders (the ``renders`` fixture: defaults, hostile and longest answers,
every option on, the pairwise covering array) are made once, by the one worker of their
xdist group, and each checker runs once over every file it applies to: hadolint on Dockerfiles,
check-jsonschema on CI and bot configs, zizmor on workflows, kubernetes-validate on
manifests. The structure tests read the files as Docker, CI and Kubernetes would.
"""

import ast
import json
import os
import re
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from helpers.delivery import (
    Stage,
    dockerfile_stages,
    dockerignore_excludes,
    dockerignore_patterns,
    labels_of,
)
from helpers.rendering import ROOT, choices_of, run, venv_tool
from helpers.sharing import Renders

# An action pin: the full commit SHA, then the release it is, in a comment.
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
UID = "10001"
CI_WORKFLOW = ".github/workflows/ci.yml"
UPDATE_WORKFLOW = ".github/workflows/template-update.yml"
SPDX = {"Proprietary": "LicenseRef-Proprietary"}
HEALTH_PATHS = {"livenessProbe": "/health", "readinessProbe": "/ready", "startupProbe": "/health"}
# Schemas copied from the projects that define them (its README names each source).
SHARED_SCHEMAS = ROOT.parent / "shared" / "schemas"
RAYJOB_CRD = "kuberay-v1.7.0-ray.io_rayjobs.yaml"
DEVCONTAINER_SCHEMA = "devContainer.base.schema.json"


def shared_schema(name: str) -> Path:
    """Return a schema of ../shared/schemas; skip without the folder, but fail under CI."""
    path = SHARED_SCHEMAS / name
    if not path.is_file():
        message = f"{SHARED_SCHEMAS} has no {name} (the schemas shared with this repository's CI)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def crd_schema(path: Path, version: str = "v1") -> dict[str, Any]:
    """The OpenAPI v3 schema of one served version of a CustomResourceDefinition file."""
    crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
    return schema


def existing(renders: Renders, relative: str) -> list[Path]:
    """Return ``relative`` in every render that has it."""
    return [project / relative for project, _ in renders.values() if (project / relative).exists()]


def with_answers(renders: Renders, relative: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Yield ``relative`` of every render that has it, with that render's answers."""
    for project, answers in renders.values():
        if (project / relative).exists():
            yield project / relative, answers


def checker(command: list[str], cwd: Path) -> str:
    """Run a checker; return its output, failing with all of it if it reports a problem."""
    result = run(command, cwd, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"`{' '.join(command[:3])} ...` failed:\n{output}"
    return output


def test_every_variant_is_rendered(renders: Renders) -> None:
    """The checkers below would pass vacuously on a missing variant: each one is there."""
    combos = {
        (a["ci_provider"], a["docker"], a.get("kubernetes", False), a["serving"])
        for _, a in renders.values()
    }
    for ci in choices_of("ci_provider"):
        assert any(c[0] == ci and c[1] for c in combos), f"no render with ci={ci}, docker"
        assert any(c[0] == ci and not c[1] for c in combos), f"no render with ci={ci}, no docker"
    assert {(True, True), (True, False)} <= {(c[2], c[3]) for c in combos if c[1]}


# --- Docker ----------------------------------------------------------------------------


def test_hadolint_reports_nothing(renders: Renders) -> None:
    dockerfiles = existing(renders, "Dockerfile")
    assert len(dockerfiles) > 5
    command = [venv_tool("hadolint"), "--no-color", "--failure-threshold", "info"]
    output = checker([*command, *map(str, dockerfiles)], dockerfiles[0].parent)
    assert not output.strip(), output


def stages_of(dockerfile: Path) -> list[Stage]:
    """Return the build stages of a rendered Dockerfile."""
    return dockerfile_stages(dockerfile.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["defaults", "all-on"])
def test_dockerfile_stages_and_user(renders: Renders, name: str) -> None:
    project, answers = renders[name]
    uv, builder, runtime = stages_of(project / "Dockerfile")
    assert (uv.name, builder.name, runtime.name) == ("uv", "builder", "runtime")
    base = f"python:{answers['python_version']}-slim-trixie"
    assert builder.base == runtime.base == base, "the venv's Python must be the runtime's"
    assert uv.base.startswith("ghcr.io/astral-sh/uv:")
    assert not uv.instructions
    # The final image runs as the numeric non-root user the Kubernetes manifests expect.
    keywords = [i.keyword for i in runtime.instructions]
    user = runtime.each("USER")[-1].words[0]
    assert user == f"{UID}:{UID}"
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    # Nothing of the build in the final stage: no uv, no cache mounts, only the venv copied
    # (and, for the inference API, the trained model it serves).
    copies = ["--from=builder /app/.venv /app/.venv"]
    if answers["serving"]:
        copies.append("models/ /app/models/")
    assert [i.arguments for i in runtime.each("COPY")] == copies
    assert not any(i.flags for i in runtime.each("RUN"))
    assert all("uv" not in i.arguments.split() for i in runtime.each("RUN"))
    # The builder installs exactly the lock, without dev tools, as a wheel.
    syncs = [i.command for i in builder.each("RUN")]
    assert syncs
    assert all("uv sync --locked --no-dev --no-editable" in c for c in syncs)
    assert builder.environment()["UV_COMPILE_BYTECODE"] == "1"
    assert all("type=cache,target=/root/.cache/uv" in i.flags["mount"] for i in builder.each("RUN"))


def test_dockerfile_reads_only_what_the_context_holds(renders: Renders) -> None:
    """Every COPY and bind-mount source exists in the render and passes .dockerignore.

    Sources that the workflow produces before a build need not exist in a fresh render:
    uv.lock (`uv lock` writes it, the user commits it, the README says so; the full layer
    builds from a locked render), and a serving image's models/ when DVC owns that folder.
    """
    for dockerfile, answers in with_answers(renders, "Dockerfile"):
        project = dockerfile.parent
        patterns = dockerignore_patterns((project / ".dockerignore").read_text(encoding="utf-8"))
        sources = []
        for stage in stages_of(dockerfile):
            for copy in stage.each("COPY"):
                if "from" not in copy.flags:
                    sources += copy.words[:-1]
            for step in stage.each("RUN"):
                for mount in step.flags.get("mount", []):
                    options = dict(option.split("=", 1) for option in mount.split(","))
                    if options["type"] == "bind":
                        sources.append(options["source"])
        assert {"uv.lock", "pyproject.toml", "src/"} <= set(sources)
        produced = {"uv.lock"} | ({"models/"} if answers["data_versioning"] == "dvc" else set())
        for source in sources:
            assert source in produced or (project / source).exists(), f"{dockerfile}: {source}"
            assert not dockerignore_excludes(patterns, source.rstrip("/")), source
        package = next((project / "src").iterdir()).name
        assert not dockerignore_excludes(patterns, f"src/{package}/cli.py")
        for kept_out in (".git/HEAD", ".venv/bin/python", "data/raw/train.csv", ".env",
                         "tests/test_cli.py", f"src/{package}/__pycache__/cli.cpython-311.pyc"):  # fmt: skip
            assert dockerignore_excludes(patterns, kept_out), f"{kept_out} reaches the build"
        # A serving image carries the trained model; any other image has no use for it.
        model_file = "models/run.json"
        assert dockerignore_excludes(patterns, model_file) is not answers["serving"], model_file


def test_labels_read_back_as_the_answers(renders: Renders) -> None:
    for dockerfile, answers in with_answers(renders, "Dockerfile"):
        labels = labels_of(stages_of(dockerfile)[-1])
        prefix = "org.opencontainers.image."
        assert labels == {
            f"{prefix}title": answers["project_name"],
            f"{prefix}description": answers["description"],
            f"{prefix}authors": f"{answers['author_name']} <{answers['author_email']}>",
            f"{prefix}licenses": SPDX.get(answers["license"], answers["license"]),
        }, dockerfile


def test_entrypoint_command_and_healthcheck(renders: Renders) -> None:
    for dockerfile, answers in with_answers(renders, "Dockerfile"):
        runtime = stages_of(dockerfile)[-1]
        assert runtime.each("ENTRYPOINT")[0].exec_form() == [answers["project_slug"]]
        command = runtime.each("CMD")[0].exec_form()
        healthchecks = runtime.each("HEALTHCHECK")
        if answers["serving"]:
            assert command == ["serve", "--host", "0.0.0.0", "--port", "8000"]  # noqa: S104
            assert [i.words for i in runtime.each("EXPOSE")] == [["8000"]]
            probe = healthchecks[0].exec_form()
            assert probe[:2] == ["python", "-c"]
            assert "'http://127.0.0.1:8000/health'" in probe[2]
        else:
            assert command == ["info"]
            assert not healthchecks
            assert not runtime.each("EXPOSE")


# --- CI and dependency bots -------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "schemas"),
    [
        (".github/workflows/ci.yml", ["vendor.github-workflows", "custom.github-workflows-require-timeout"]),
        (".github/workflows/template-update.yml", ["vendor.github-workflows", "custom.github-workflows-require-timeout"]),
        (".github/workflows/image.yml", ["vendor.github-workflows", "custom.github-workflows-require-timeout"]),
        (".github/dependabot.yml", ["vendor.dependabot"]),
        (".gitlab-ci.yml", ["vendor.gitlab-ci"]),
        ("renovate.json", ["vendor.renovate"]),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)  # fmt: skip
def test_ci_files_match_their_schemas(renders: Renders, relative: str, schemas: list[str]) -> None:
    files = existing(renders, relative)
    assert len(files) > 2
    for schema in schemas:
        command = [venv_tool("check-jsonschema"), "--builtin-schema", schema]
        checker([*command, *map(str, files)], files[0].parent)


def test_zizmor_reports_nothing(renders: Renders) -> None:
    """zizmor, offline, with its most demanding persona, over every GitHub render."""
    projects = [f.parents[2] for f in existing(renders, ".github/workflows/ci.yml")]
    command = [venv_tool("zizmor"), "--offline", "--persona=pedantic", "--no-progress"]
    output = checker([*command, *map(str, projects)], projects[0])
    assert "No findings to report" in output, output


def readme_recipe(project: Path) -> str:
    """The scheduled monitoring job the README's Monitoring section shows, as written."""
    section = (project / "README.md").read_text(encoding="utf-8").partition("## Monitoring")[2]
    return section.partition("\n## ")[0].split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_readme_monitoring_recipe_passes_the_ci_checks(
    renders: Renders, tmp_path: Path
) -> None:
    """The README's scheduled job, saved where it says, passes the checks of the CI files.

    GitHub's workflow is checked as the shipped ones are (schema, timeouts, zizmor at its
    pedantic persona); GitLab's job is added to the render's pipeline and checked with it.
    """
    checked = set()
    for project, answers in renders.values():
        provider = answers["ci_provider"]
        if provider == "none" or provider in checked:
            continue
        copy = tmp_path / provider
        recipe = readme_recipe(project)
        if provider == "github":
            workflow = copy / ".github" / "workflows" / "monitor.yml"
            workflow.parent.mkdir(parents=True)
            workflow.write_text(recipe, encoding="utf-8")
            schemas = ["vendor.github-workflows", "custom.github-workflows-require-timeout"]
            zizmor = [venv_tool("zizmor"), "--offline", "--persona=pedantic", "--no-progress"]
            assert "No findings to report" in checker([*zizmor, str(copy)], copy)
            shipped = (project / CI_WORKFLOW).read_text(encoding="utf-8")
            pins = [line.strip() for line in recipe.splitlines() if "uses:" in line]
            assert pins, "the recipe sets up uv as CI does"
            assert all(pin in shipped for pin in pins), "the recipe pins what ci.yml pins"
        else:
            pipeline = yaml.safe_load((project / ".gitlab-ci.yml").read_text(encoding="utf-8"))
            workflow = copy / ".gitlab-ci.yml"
            copy.mkdir()
            workflow.write_text(yaml.safe_dump(pipeline | yaml.safe_load(recipe)), encoding="utf-8")
            schemas = ["vendor.gitlab-ci"]
        for schema in schemas:
            checker(
                [venv_tool("check-jsonschema"), "--builtin-schema", schema, str(workflow)], copy
            )
        checked.add(provider)
    assert checked == {"github", "gitlab"}


def test_actions_are_pinned_by_commit(renders: Renders) -> None:
    pins: dict[str, set[str]] = {}
    workflows = [*existing(renders, CI_WORKFLOW), *existing(renders, UPDATE_WORKFLOW)]
    for workflow_file in workflows:
        for line in workflow_file.read_text(encoding="utf-8").splitlines():
            if "uses:" in line:
                pin = line.split("uses:", 1)[1].strip()
                assert PINNED_ACTION.match(pin), f"{workflow_file}: {pin}"
                pins.setdefault(pin.split("@")[0], set()).add(pin)
    assert set(pins) == {"actions/checkout", "astral-sh/setup-uv"}
    assert all(len(versions) == 1 for versions in pins.values()), pins
    for workflow_file in existing(renders, CI_WORKFLOW):
        workflow = yaml.safe_load(workflow_file.read_text(encoding="utf-8"))
        assert workflow["permissions"] == {}
        for job in workflow["jobs"].values():
            assert job["permissions"] == {"contents": "read"}
            assert all(
                step["with"]["persist-credentials"] is False
                for step in job["steps"]
                if step.get("uses", "").startswith("actions/checkout@")
            )
        assert workflow["concurrency"]["group"]


def test_template_update_job_is_hardened(renders: Renders) -> None:
    """The one job that can push: scheduled, least privilege, no cache, no injected input."""
    for workflow_file in existing(renders, UPDATE_WORKFLOW):
        workflow = yaml.safe_load(workflow_file.read_text(encoding="utf-8"))
        # PyYAML reads the key `on` as True. No event a fork or a pull request controls.
        assert set(workflow[True]) == {"schedule", "workflow_dispatch"}
        assert workflow["permissions"] == {}
        assert workflow["concurrency"]["cancel-in-progress"] is False
        (job,) = workflow["jobs"].values()
        assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
        assert job["environment"] == "template-update"
        checkout, setup_uv, update = job["steps"]
        assert checkout["with"]["persist-credentials"] is False
        assert setup_uv["with"]["enable-cache"] is False
        assert update["run"] == "bash scripts/template-update.sh"
        assert set(update["env"]) >= {"GH_TOKEN", "GIT_AUTHOR_NAME", "GIT_COMMITTER_EMAIL"}
    for pipeline_file in existing(renders, ".gitlab-ci.yml"):
        pipeline = yaml.safe_load(pipeline_file.read_text(encoding="utf-8"))
        job = pipeline["template-update"]
        assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
        assert job["cache"] == []
        assert job["script"] == ["bash scripts/template-update.sh"]
        others = [j for name, j in pipeline.items() if name != "template-update" and "script" in j]
        assert all("TEMPLATE_UPDATE_TOKEN" not in json.dumps(other) for other in others)


def test_shellcheck_reports_nothing(renders: Renders) -> None:
    scripts = existing(renders, "scripts/template-update.sh")
    assert len(scripts) > 2
    command = [venv_tool("shellcheck"), "--severity=style", "--format=gcc"]
    output = checker([*command, *map(str, scripts)], scripts[0].parent)
    assert not output.strip(), output


def expected_matrix(answers: dict[str, Any]) -> list[str]:
    """Return the CI's Python versions: from the oldest supported to the newest with wheels."""
    supported = choices_of("python_version")
    versions = supported[supported.index(answers["python_version"]) :]
    if answers["ml_framework"] == "tensorflow":  # TensorFlow 2.21 has no wheels for 3.14
        versions = [v for v in versions if v != "3.14"]
    return versions


def test_ci_matrix_covers_every_python_with_wheels(renders: Renders) -> None:
    seen = set()
    for workflow_file, answers in with_answers(renders, ".github/workflows/ci.yml"):
        jobs = yaml.safe_load(workflow_file.read_text(encoding="utf-8"))["jobs"]
        matrix = jobs["tests"]["strategy"]["matrix"]["python-version"]
        assert matrix == expected_matrix(answers), workflow_file
        assert ("docker" in jobs) == answers["docker"]
        seen.add((answers["ml_framework"], len(matrix)))
    for pipeline_file, answers in with_answers(renders, ".gitlab-ci.yml"):
        pipeline = yaml.safe_load(pipeline_file.read_text(encoding="utf-8"))
        matrix = pipeline["tests"]["parallel"]["matrix"][0]["PYTHON_VERSION"]
        assert matrix == expected_matrix(answers), pipeline_file
        assert ("docker" in pipeline) == answers["docker"]
    assert any(framework == "tensorflow" for framework, _ in seen)


def test_dependency_bots_watch_every_ecosystem(renders: Renders) -> None:
    for config_file, answers in with_answers(renders, ".github/dependabot.yml"):
        updates = yaml.safe_load(config_file.read_text(encoding="utf-8"))["updates"]
        ecosystems = {update["package-ecosystem"] for update in updates}
        assert ecosystems == {"uv", "github-actions"} | ({"docker"} if answers["docker"] else set())
        assert all(update["cooldown"]["default-days"] >= 7 for update in updates)
    for config_file, _ in with_answers(renders, "renovate.json"):
        config = json.loads(config_file.read_text(encoding="utf-8"))
        assert "config:recommended" in config["extends"]
        assert config["lockFileMaintenance"]["enabled"] is True


# --- pre-commit -------------------------------------------------------------------------


def test_pre_commit_hooks_run_the_projects_own_tools(renders: Renders) -> None:
    """Every hook is local and runs a pinned tool of the project through uv: nothing to fetch."""
    project, _ = renders["defaults"]
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = config["repos"][0]["hooks"]
    for hook in hooks:
        assert hook["language"] == "unsupported", hook["id"]
        assert hook["entry"].startswith("uv run --frozen "), hook["id"]
    (merge_conflicts,) = [hook for hook in hooks if hook["id"] == "check-merge-conflict"]
    assert merge_conflicts["entry"].endswith(" --assume-in-merge"), "else it checks only merges"
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert '"pre-commit>=' in pyproject
    assert '"pre-commit-hooks>=' in pyproject


# --- Kubernetes -------------------------------------------------------------------------


def test_kubernetes_validate_passes_on_every_manifest(renders: Renders) -> None:
    manifests = [
        path
        for project, _ in renders.values()
        for path in sorted((project / "deploy" / "base").glob("*.yaml"))
        if path.name != "kustomization.yaml"
    ]
    assert {path.name for path in manifests} == {"deployment.yaml", "service.yaml", "job.yaml"}
    command = [venv_tool("kubernetes-validate"), "--strict", "--quiet"]
    checker([*command, *map(str, manifests)], manifests[0].parent)


def test_manifests_run_the_image_safely(renders: Renders) -> None:
    for kustomization_file, answers in with_answers(renders, "deploy/base/kustomization.yaml"):
        base = kustomization_file.parent
        slug = answers["project_slug"]
        kustomization = yaml.safe_load(kustomization_file.read_text(encoding="utf-8"))
        resources = kustomization["resources"]
        assert sorted(resources) == sorted(
            p.name for p in base.glob("*.yaml") if p != kustomization_file
        )
        assert kustomization["images"][0]["name"] == slug
        workload = yaml.safe_load((base / resources[0]).read_text(encoding="utf-8"))
        assert workload["kind"] == ("Deployment" if answers["serving"] else "Job")
        assert workload["metadata"]["name"] == slug
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert str(pod["securityContext"]["runAsUser"]) == UID
        assert pod["automountServiceAccountToken"] is False
        (container,) = pod["containers"]
        assert container["image"] == slug
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert {"requests", "limits"} <= set(container["resources"])
        assert container["resources"]["limits"]["memory"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert mounts == {"tmp": "/tmp"}  # noqa: S108 - the emptyDir the read-only root needs
        assert "emptyDir" in volumes["tmp"]
        probes = {key: container[key] for key in HEALTH_PATHS if key in container}
        if answers["serving"]:
            assert {k: p["httpGet"]["path"] for k, p in probes.items()} == HEALTH_PATHS
            assert all(p["httpGet"]["port"] == "http" for p in probes.values())
            assert container["ports"] == [
                {"name": "http", "containerPort": 8000, "protocol": "TCP"}
            ]
            service = yaml.safe_load((base / "service.yaml").read_text(encoding="utf-8"))
            assert service["spec"]["selector"] == workload["spec"]["selector"]["matchLabels"]
            assert service["spec"]["ports"][0]["targetPort"] == "http"
        else:
            assert not probes
            assert pod["restartPolicy"] == "Never"


def test_the_rayjob_matches_kuberays_crd_and_runs_the_image_safely(
    renders: Renders,
) -> None:
    validator = jsonschema.Draft7Validator(crd_schema(shared_schema(RAYJOB_CRD)))
    jobs = list(with_answers(renders, "deploy/ray/rayjob.yaml"))
    assert {answers["distributed"] for _, answers in jobs} == {"ray"}
    assert jobs, "a quick-layer render has a RayJob"
    for path, answers in jobs:
        slug, prefix = answers["project_slug"], answers["package_name"].upper() + "_"
        job = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert [error.message for error in validator.iter_errors(job)] == [], path
        broken = deepcopy(job)
        broken["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] = "two"
        assert list(validator.iter_errors(broken)), "the schema checks the worker group"
        assert job["spec"]["entrypoint"] == f"{slug} tune --workers 2"
        assert job["spec"]["shutdownAfterJobFinishes"] is True
        cluster = job["spec"]["rayClusterSpec"]
        pods = [cluster["headGroupSpec"]["template"]["spec"]]
        pods += [group["template"]["spec"] for group in cluster["workerGroupSpecs"]]
        for pod in pods:
            assert pod["automountServiceAccountToken"] is False
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert str(pod["securityContext"]["runAsUser"]) == UID
            (container,) = pod["containers"]
            assert container["image"] == slug
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            environment = {item["name"]: item["value"] for item in container["env"]}
            assert environment["RAY_USAGE_STATS_ENABLED"] == "0"
            assert environment[f"{prefix}PATHS__REPORTS_DIR"].startswith(container["workingDir"])
            mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
            assert mounts == {"/tmp", "/dev/shm"}  # noqa: S108 - the writable emptyDirs
        kustomization = yaml.safe_load((path.parent / "kustomization.yaml").read_text("utf-8"))
        assert kustomization["resources"] == ["rayjob.yaml"]
        assert kustomization["images"][0]["name"] == slug


# --- DVC -------------------------------------------------------------------------------


def import_statements(text: str) -> ast.Module:
    """Parse only the import statements of a module, at any depth.

    A render for a newer Python than this one may use syntax this interpreter cannot parse
    (``def f[**P, R]``); its imports are plain statements every version reads. A line of
    prose that starts like an import (in a docstring) does not parse, and is left out.
    """
    statements: list[str] = []
    lines = iter(text.splitlines())
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith(("from ", "import ")):
            continue
        statement = [stripped]
        while statement[-1].endswith("(") or ("(" in statement[0] and ")" not in statement[-1]):
            statement.append(next(lines).strip())
        try:
            ast.parse(" ".join(statement))
        except SyntaxError:
            continue
        statements.append(" ".join(statement))
    return ast.parse("\n".join(statements))


def package_imports(module: Path) -> set[str]:
    """Return the sibling modules that ``module`` imports (relative or by package name)."""
    package = module.parent.name
    imported = set()
    for node in ast.walk(import_statements(module.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0 and node.module is not None and node.module.startswith(package):
            parts = node.module.split(".")[1:]
        elif node.level == 1:
            parts = node.module.split(".") if node.module else []
        else:
            continue
        names = parts[:1] or [alias.name for alias in node.names]
        imported |= {name for name in names if (module.parent / f"{name}.py").is_file()}
    return imported


def test_dvc_stages_depend_on_every_module_they_run(renders: Renders) -> None:
    """Every package module a stage's command imports, transitively, is one of its deps.

    A stage would otherwise not rerun when such a module changes: its outputs go stale.
    """
    checked = 0
    for dvc_yaml, _ in with_answers(renders, "dvc.yaml"):
        package_dir = next((dvc_yaml.parent / "src").iterdir())
        for stage, spec in yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"].items():
            # The commands record their results in MLflow when the project tracks experiments.
            tracked = stage != "prepare" and (package_dir / "tracking.py").exists()
            needed: set[str] = set()
            todo = [stage, "tracking"] if tracked else [stage]
            while todo:
                name = todo.pop()
                if name not in needed:
                    needed.add(name)
                    todo += package_imports(package_dir / f"{name}.py")
            deps = set(spec["deps"])
            missing = {f"src/{package_dir.name}/{n}.py" for n in needed} - deps
            assert not missing, f"{dvc_yaml}: stage {stage} lacks deps {sorted(missing)}"
            checked += 1
    assert checked >= 3


# --- Dev container ----------------------------------------------------------------------


def test_the_devcontainer_matches_its_schema_and_the_project(renders: Renders) -> None:
    """devcontainer.json validates against the Dev Container spec's schema, and fits the project.

    The schema is devcontainers/spec's ``devContainer.base.schema.json``, copied to
    ../shared/schemas. The container runs the Dockerfile's Python image and installs exactly
    the lock, with no interpreter download and the editor's telemetry off.
    """
    schema = json.loads(shared_schema(DEVCONTAINER_SCHEMA).read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)  # draft 2019-09
    for name, (project, answers) in renders.items():
        config = json.loads((project / ".devcontainer" / "devcontainer.json").read_text("utf-8"))
        problems = [error.message for error in validator.iter_errors(config)]
        assert problems == [], name
        dockerfile = (
            (project / "Dockerfile").read_text(encoding="utf-8") if answers["docker"] else ""
        )
        assert f"FROM {config['image']} AS runtime" in dockerfile or not answers["docker"], name
        assert config["image"].startswith(f"python:{answers['python_version']}-"), name
        assert "uv sync --locked" in config["postCreateCommand"], name
        assert config["containerEnv"]["UV_PYTHON_DOWNLOADS"] == "never", name
        assert config["customizations"]["vscode"]["settings"]["telemetry.telemetryLevel"] == "off"


# --- Supply chain -----------------------------------------------------------------------


def test_the_audit_jobs_check_the_lock(renders: Renders) -> None:
    """The vulnerability audit, online, is checked as text: it audits every group of the lock.

    uv exports the lock as pinned requirements with hashes, which the dev group's pip-audit
    checks without pip.
    """
    for name, (project, answers) in renders.items():
        if answers["ci_provider"] == "none":
            continue
        if answers["ci_provider"] == "github":
            workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text("utf-8"))
            commands = "\n".join(step.get("run", "") for step in workflow["jobs"]["audit"]["steps"])
        else:
            pipeline = yaml.safe_load((project / ".gitlab-ci.yml").read_text(encoding="utf-8"))
            commands = "\n".join(pipeline["audit"]["script"])
        assert "uv export --locked --all-groups --no-emit-project" in commands, name
        assert re.search(r"uv run pip-audit --disable-pip --requirement \S+", commands), name
        assert '"pip-audit==' in (project / "pyproject.toml").read_text(encoding="utf-8"), name


def test_images_are_published_signed_and_attested(renders: Renders) -> None:
    """Images are pushed with an SBOM and max provenance, then signed (and attested).

    GitHub: ghcr.io on tags and the default branch, a cosign signature and an attestation,
    with only the permissions that needs. GitLab: its registry, signed through an OIDC id
    token for Sigstore.
    """
    for name, (project, answers) in renders.items():
        image = project / ".github" / "workflows" / "image.yml"
        pipeline_file = project / ".gitlab-ci.yml"
        if not answers["docker"]:
            assert not image.exists(), name
            if pipeline_file.exists():
                assert "publish" not in yaml.safe_load(pipeline_file.read_text("utf-8")), name
            continue
        if answers["ci_provider"] == "github":
            workflow = yaml.safe_load(image.read_text(encoding="utf-8"))
            assert workflow[True]["push"] == {"branches": ["main"], "tags": ["v*"]}, name
            job = workflow["jobs"]["image"]
            assert job["permissions"] == {
                "contents": "read",
                "packages": "write",
                "id-token": "write",
                "attestations": "write",
            }, name
            steps = {step["uses"].split("@")[0]: step for step in job["steps"] if "uses" in step}
            build = steps["docker/build-push-action"]["with"]
            assert (build["push"], build["sbom"], build["provenance"]) == (True, True, "mode=max")
            assert "sigstore/cosign-installer" in steps, name
            signing = [step for step in job["steps"] if "cosign sign" in step.get("run", "")]
            assert signing, name
            assert "--yes" in signing[0]["run"], name
            attest = steps["actions/attest-build-provenance"]["with"]
            assert attest["push-to-registry"] is True, name
            assert answers["project_slug"] in image.read_text(encoding="utf-8"), name
        if answers["ci_provider"] == "gitlab":
            job = yaml.safe_load(pipeline_file.read_text(encoding="utf-8"))["publish"]
            assert job["id_tokens"] == {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}, name
            script = "\n".join(job["script"])
            assert "--sbom=true --provenance=mode=max" in script, name
            assert "$CI_REGISTRY_IMAGE:$TAG" in script, name
            assert 'cosign sign "$CI_REGISTRY_IMAGE@$DIGEST"' in script, name


# --- Portability: the generated CI tests on Linux, macOS and Windows -----------------------

# Modules and calls that exist on POSIX systems only, by the dotted name code uses.
POSIX_ONLY_MODULES = {"fcntl", "grp", "posix", "pty", "pwd", "resource", "termios", "tty"}
POSIX_ONLY_CALLS = {
    "os.chown",
    "os.fork",
    "os.getegid",
    "os.geteuid",
    "os.getgid",
    "os.getpgid",
    "os.getuid",
    "os.killpg",
    "os.setsid",
    "os.uname",
    "signal.SIGALRM",
    "signal.SIGHUP",
    "signal.SIGKILL",
    "signal.SIGUSR1",
    "signal.alarm",
}


POSIX_ONLY = re.compile(
    r"^\s*(?:import|from)\s+(?P<module>{})\b|\b(?P<call>{})\b".format(
        "|".join(sorted(POSIX_ONLY_MODULES)),
        "|".join(re.escape(call) for call in sorted(POSIX_ONLY_CALLS)),
    ),
    re.MULTILINE,
)


def posix_only_uses(source: str) -> list[str]:
    """Return each POSIX-only module import or call in ``source``, with its line.

    A scan of the text rather than of the syntax tree: renders for Python 3.12 and later use
    syntax that this interpreter cannot parse.
    """
    return [
        f"line {source.count(chr(10), 0, match.start()) + 1}: "
        + (f"import {match['module']}" if match["module"] else match["call"])
        for match in POSIX_ONLY.finditer(source)
    ]


def test_posix_only_calls_are_caught() -> None:
    source = "import fcntl\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    assert posix_only_uses(source) == ["line 1: import fcntl", "line 3: signal.SIGKILL"]


def test_generated_code_runs_on_every_operating_system(renders: Renders) -> None:
    """Every text file is opened with an explicit encoding, and no POSIX-only call is used.

    Windows' default encoding is not UTF-8: ruff's unspecified-encoding rule (PLW1514, a
    preview rule, so selected here rather than in the project) finds each open, read_text
    and write_text without one. The AST scan finds POSIX-only modules and calls.
    """
    for name, (project, _) in renders.items():
        folders = [str(project / folder) for folder in ("src", "tests", "benchmarks")]
        ruff = [venv_tool("ruff"), "check", "--no-cache", "--preview", "--select", "PLW1514"]
        checker([*ruff, "--isolated", *folders], project)
        for path in sorted((project / "src").rglob("*.py")) + sorted(
            (project / "tests").rglob("*.py")
        ):
            uses = posix_only_uses(path.read_text(encoding="utf-8"))
            assert uses == [], f"{name}: {path.relative_to(project)}: {uses}"
