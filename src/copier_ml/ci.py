"""The commands a project's CI file runs: GitHub Actions workflows and GitLab pipelines.

One reader for the conformance checks (which commands still run, and whether their failure
still fails the pipeline) and for the template's tests (which replay the commands on a
render). It reads what each platform documents: a GitHub job or step with ``if: false``
never runs, and one with ``continue-on-error: true`` cannot fail the workflow; a GitLab job
that is hidden (``.name``) or ``when: manual``/``never`` does not run on its own, one with
``allow_failure: true`` cannot fail the pipeline, keys inherit through ``extends``, scripts
through ``!reference`` and ``default:``.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .reading import Config, Reference, entries, mapping

# Values of a GitHub `if:` that never run the job or step.
NEVER = (False, "false", "${{ false }}")
# Top-level keys of .gitlab-ci.yml that are settings, not jobs.
GITLAB_KEYWORDS = frozenset(
    {"default", "include", "stages", "variables", "workflow", "image", "services", "cache"}
)
# GitLab follows `extends` and `!reference` 11 levels deep, and no further.
GITLAB_MAX_DEPTH = 10


@dataclass(frozen=True)
class Step:
    """One shell command of a CI file, with the job it belongs to.

    ``runs`` is false for a command the platform never runs on its own; ``may_fail`` is true
    for one whose failure does not fail the pipeline. ``environment`` holds the variables
    the file sets for it.
    """

    job: str
    name: str
    command: str
    environment: dict[str, str] = field(default_factory=dict)
    runs: bool = True
    may_fail: bool = False


def variables(value: object) -> dict[str, str]:
    """Return a mapping of variables with their values as text."""
    return {str(key): str(item) for key, item in mapping(value).items()}


def github_steps(workflow: Config) -> Iterator[Step]:
    """Yield the ``run:`` steps of a GitHub workflow's jobs, in file order.

    ``uses:`` steps are not commands: they are left out.
    """
    for job_id, job in (
        (str(key), mapping(value)) for key, value in mapping(workflow.get("jobs")).items()
    ):
        job_env = variables(job.get("env"))
        for step in map(mapping, entries(job.get("steps"))):
            if "run" not in step:
                continue
            yield Step(
                job=job_id,
                name=str(step.get("name", step["run"])),
                command=str(step["run"]),
                environment={**job_env, **variables(step.get("env"))},
                runs=job.get("if") not in NEVER and step.get("if") not in NEVER,
                may_fail=True in (job.get("continue-on-error"), step.get("continue-on-error")),
            )


def gitlab_value(pipeline: Config, job: Config, key: str, depth: int = 0) -> object:
    """Return ``key`` of a GitLab job, inherited through ``extends`` when the job lacks it."""
    if key in job or depth > GITLAB_MAX_DEPTH:
        return job.get(key)
    parents = job.get("extends")
    for parent in reversed([parents] if isinstance(parents, str) else entries(parents)):
        value = gitlab_value(pipeline, mapping(pipeline.get(parent)), key, depth + 1)
        if value is not None:
            return value
    return None


def gitlab_lines(pipeline: Config, value: object, depth: int = 0) -> list[str]:
    """Return the lines of a script, with ``!reference`` tags and nested lists resolved."""
    lines = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, Reference) and depth <= GITLAB_MAX_DEPTH:
            target: Any = pipeline
            for key in item.path:
                target = mapping(target).get(key)
            lines += gitlab_lines(pipeline, target, depth + 1)
        elif isinstance(item, list):
            lines += gitlab_lines(pipeline, item, depth)
        elif item is not None and not isinstance(item, Reference):
            lines.append(str(item))
    return lines


def gitlab_steps(pipeline: Config) -> Iterator[Step]:
    """Yield the script lines of a GitLab pipeline's jobs, in file order.

    Each job gets the default scripts unless it sets its own, and the global variables
    under its own.
    """
    default = mapping(pipeline.get("default"))
    global_env = variables(pipeline.get("variables"))
    for job_id, job in pipeline.items():
        name = str(job_id)
        if name in GITLAB_KEYWORDS or not isinstance(job, dict):
            continue
        runs = not name.startswith(".") and gitlab_value(pipeline, job, "when") not in (
            "manual",
            "never",
        )
        may_fail = gitlab_value(pipeline, job, "allow_failure") is True
        env = {**global_env, **variables(gitlab_value(pipeline, job, "variables"))}
        for part in ("before_script", "script", "after_script"):
            value = gitlab_value(pipeline, job, part)
            for line in gitlab_lines(pipeline, default.get(part) if value is None else value):
                # An after_script runs once the job's result is decided: it cannot fail it.
                fails = may_fail or part == "after_script"
                yield Step(name, part, line, env, runs=runs, may_fail=fails)


def steps(provider: str, config: Config) -> list[Step]:
    """Return the steps of the CI file of ``provider`` (``github`` or ``gitlab``)."""
    return list(github_steps(config) if provider == "github" else gitlab_steps(config))
