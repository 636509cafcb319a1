"""The template release a project is on, and the newest release of the template.

A project records its template (``_src_path``) and release (``_commit``) in its answers
file; the releases are the PEP 440 version tags of the template's Git repository, listed
with ``git ls-remote`` (which asks for no credentials and times out), so no clone is made.
"""

import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging.version import InvalidVersion, Version

from .reading import Config

# `git describe` output, which Copier records for a commit after a tag: v1.2.0-3-g1a2b3c4.
DESCRIBED = re.compile(r"^(?P<tag>.+?)(?:-(?P<ahead>\d+)-g[0-9a-f]+)?$")
# Copier's shorthands for Git hosts in _src_path.
SOURCE_PREFIXES = {"gh:": "https://github.com/", "gl:": "https://gitlab.com/"}


@dataclass(frozen=True)
class TemplateStatus:
    """The template release a project is on, compared with the newest one."""

    source: str | None = None
    version: str | None = None
    latest: str | None = None
    up_to_date: bool | None = None
    error: str | None = None


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


def template_status(answers: Config | None, project: Path, template: str | None) -> TemplateStatus:
    """Compare the project's template release (from its ``answers``) with the newest one.

    The recorded ``_commit`` counts as a release only when it is (or follows) one of the
    template's version tags: a bare commit hash of digits would otherwise read as a version.
    ``template`` replaces the recorded ``_src_path`` as the repository to read tags from.
    """
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
