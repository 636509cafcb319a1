"""The scheduled template update of generated projects, run here as CI would run it.

Each test renders a project from an old release of the three-release history, pushes it to
a bare repository that stands in for GitHub or GitLab (reached through the CI's own
variables, as a ``file://`` URL), and runs ``bash scripts/template-update.sh`` as the CI
step does. Two tools are stood in for on PATH: ``uvx``, which runs this session's Copier
once it has checked that the script asks for the same release, and GitHub's ``gh``, which
records the pull request it is asked to open. GitLab needs no CLI: the merge request comes
from push options, which the bare repository records.
"""

import os
from importlib.metadata import version
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from helpers.lifecycle import NEWEST, RELEASES, generate, replace_once
from helpers.rendering import git, git_commit_all, run, venv_tool

pytestmark = pytest.mark.update

REPOSITORY = "acme/churn-model"
# Copier reports versions as PEP 440 normalises them: v2.0.0 is 2.0.0.
OLDEST, PREVIOUS, LATEST = (release.removeprefix("v") for release in RELEASES)
BRANCH = f"template-update/{LATEST}"
# Records what a push to the bare repository carried, as GitLab reads it.
POST_RECEIVE = """#!/bin/sh
i=0
while [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do
    eval "printf '%s\\n' \\"\\$GIT_PUSH_OPTION_$i\\"" >> push-options.log
    i=$((i + 1))
done
"""


def executable(path: Path, text: str) -> None:
    """Write a shell script that can be run."""
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)


def stand_ins(folder: Path) -> Path:
    """Write the ``uvx`` and ``gh`` stand-ins into ``folder`` and return it."""
    folder.mkdir()
    executable(
        folder / "uvx",
        f'#!/bin/sh\nif [ "$1" != "copier@{version("copier")}" ]; then\n'
        '    echo "unexpected: uvx $*" >&2\n    exit 97\nfi\nshift\n'
        f'exec "{venv_tool("copier")}" "$@"\n',
    )
    executable(
        folder / "gh", f'#!/bin/sh\nprintf "%s\\n" "GH_TOKEN=$GH_TOKEN" "$@" >> "{folder}/gh.log"\n'
    )
    return folder


def server_with(project: Path, root: Path) -> tuple[Path, str]:
    """Push ``project`` to a new bare repository; return it and the server's URL."""
    bare = root / "server" / f"{REPOSITORY}.git"
    bare.parent.mkdir(parents=True)
    git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    git(bare, "config", "receive.advertisePushOptions", "true")
    executable(bare / "hooks" / "post-receive", POST_RECEIVE)
    git(project, "push", "--quiet", str(bare), "main")
    return bare, (root / "server").as_uri()


def update_job(project: Path, tools: Path, environment: dict[str, str]) -> CompletedProcess[str]:
    """Run the CI step, ``bash scripts/template-update.sh``, in ``project``."""
    path = f"{tools}:{os.environ['PATH']}"
    command = ["bash", "scripts/template-update.sh"]
    return run(command, project, check=False, env={"PATH": path, **environment})


def github(server: str) -> dict[str, str]:
    """The variables a scheduled GitHub Actions run gives the step."""
    return {
        "GH_TOKEN": "test-token",
        "GITHUB_SERVER_URL": server,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_REF_NAME": "main",
    }


def branches(bare: Path) -> list[str]:
    """Return the branches of the bare repository."""
    return git(bare, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


def test_github_job_proposes_the_newest_release_once(history: Path, tmp_path: Path) -> None:
    project = generate(history, RELEASES[0], tmp_path / "project")
    bare, server = server_with(project, tmp_path)
    tools = stand_ins(tmp_path / "bin")

    result = update_job(project, tools, github(server))

    assert result.returncode == 0, result.stdout + result.stderr
    title = f"Update the copier-ml template from {OLDEST} to {LATEST}"
    assert f"Proposed: {title}, on the branch {BRANCH}." in result.stdout
    assert branches(bare) == ["main", BRANCH]
    assert git(bare, "rev-parse", f"{BRANCH}^") == git(bare, "rev-parse", "main")
    assert git(bare, "log", "-1", "--format=%s", BRANCH).strip() == title
    assert f"_commit: {NEWEST}\n" in git(bare, "show", f"{BRANCH}:.copier-answers.yml")
    request = (tools / "gh.log").read_text(encoding="utf-8").splitlines()
    assert request[:12] == [
        "GH_TOKEN=test-token", "pr", "create", "--repo", REPOSITORY, "--base", "main",
        "--head", BRANCH, "--title", title, "--body",
    ]  # fmt: skip
    assert "The template's CHANGELOG says what changed" in request[12]
    # The token authenticated the push alone: the checkout keeps no credentials.
    assert "extraheader" not in git(project, "config", "--list", "--local")

    # Next week's run, in a fresh checkout, finds the branch and proposes nothing new.
    checkout = tmp_path / "next-run"
    git(tmp_path, "clone", "--quiet", str(bare), str(checkout))
    again = update_job(checkout, tools, github(server))

    assert again.returncode == 0, again.stdout + again.stderr
    assert f"The update to {LATEST} is proposed already, on the branch {BRANCH}." in again.stdout
    assert (tools / "gh.log").read_text(encoding="utf-8").splitlines() == request


def test_github_job_does_nothing_on_the_newest_release(history: Path, tmp_path: Path) -> None:
    project = generate(history, NEWEST, tmp_path / "project")
    bare, server = server_with(project, tmp_path)
    tools = stand_ins(tmp_path / "bin")

    result = update_job(project, tools, github(server))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"The project is on the newest template release, {LATEST}." in result.stdout
    assert branches(bare) == ["main"]
    assert not (tools / "gh.log").exists()
    assert git(project, "status", "--porcelain") == ""


def test_github_job_fails_listing_the_conflicts(history: Path, tmp_path: Path) -> None:
    project = generate(history, RELEASES[0], tmp_path / "project")
    replace_once(project / "pyproject.toml", "fail_under = 95", "fail_under = 97")
    git_commit_all(project, "Raise our coverage threshold")
    bare, server = server_with(project, tmp_path)
    tools = stand_ins(tmp_path / "bin")

    result = update_job(project, tools, github(server))

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"the update from {OLDEST} to {LATEST} collides" in result.stderr
    assert "\n  pyproject.toml\n" in result.stderr
    assert branches(bare) == ["main"]
    assert not (tools / "gh.log").exists()


def test_gitlab_job_opens_a_merge_request_by_push_options(history: Path, tmp_path: Path) -> None:
    project = generate(history, RELEASES[1], tmp_path / "project", {"ci_provider": "gitlab"})
    bare, server = server_with(project, tmp_path)
    tools = stand_ins(tmp_path / "bin")
    gitlab = {"CI_SERVER_URL": server, "CI_PROJECT_PATH": REPOSITORY, "CI_COMMIT_BRANCH": "main"}

    refused = update_job(project, tools, gitlab)
    assert refused.returncode != 0
    assert "TEMPLATE_UPDATE_TOKEN: must hold a project access token" in refused.stderr

    result = update_job(project, tools, {**gitlab, "TEMPLATE_UPDATE_TOKEN": "test-token"})

    assert result.returncode == 0, result.stdout + result.stderr
    assert branches(bare) == ["main", BRANCH]
    assert (bare / "push-options.log").read_text(encoding="utf-8").splitlines() == [
        "merge_request.create",
        "merge_request.target=main",
        f"merge_request.title=Update the copier-ml template from {PREVIOUS} to {LATEST}",
        "merge_request.remove_source_branch",
    ]
