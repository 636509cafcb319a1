"""The platform's conformance run: the copier-ml checks over many projects, through repo-review.

Usage: ``copier-ml-conformance [--format table|json] [--template URL] [--fail-outdated]
[--timeout SECONDS] DIR...``

For each project folder it runs the checks of ``checks.py`` (family ``copier-ml``, codes
``CML``) with repo-review, and reports the template release the project is on against the
newest one (``releases.py``). It differs from a plain ``repo-review DIR`` in what a
platform team needs:

* the selection is explicit (``CML``) and a project's own ``[tool.repo-review]`` settings
  are not read, so a project cannot ignore its way to a pass;
* a hostile project cannot stop the run: every file any plugin opens is read through
  ``GuardedPath`` (regular files only, at most ``reading.MAX_BYTES``), each project has a
  time budget, and whatever goes wrong is that project's problem, reported, before the run
  goes on with the next one.

The exit status is 1 when a project falls below the standard (and, with
``--fail-outdated``, when one is not on the newest release), else 0.
"""

import argparse
import io
import json
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any, Self

from repo_review.processor import collect_all, process

from .checks import FAMILY
from .fixtures import copier_answers
from .reading import Unreadable, mapping, read_text
from .releases import TemplateStatus, template_status

# The checks of each area, by the digit after "CML", for the table's columns.
AREAS = {"1": "answers", "2": "mypy", "3": "ruff", "4": "pre-commit", "5": "ci"}
# Table cells for a check's verdict and for "up to date" (None: not known).
VERDICT_CELLS = {True: "ok", False: "FAIL", None: "?"}
UP_TO_DATE_CELLS = {True: "yes", False: "no", None: "?"}
# A project is checked in milliseconds; one that takes this long is hostile or broken.
DEFAULT_TIMEOUT = 60.0


class GuardedPath:
    """A project folder as repo-review walks it, where no file can be read unguarded.

    It is the ``Traversable`` that repo-review and every plugin's fixtures read through:
    a file is opened only if it is a regular file of at most ``reading.MAX_BYTES`` (a FIFO
    would block for ever, a link to ``/dev/zero`` fill the memory). A refused read raises
    ``Unreadable``, which the run reports as the project's problem.
    """

    def __init__(self, path: Path) -> None:
        """Guard ``path``."""
        self.path = path

    def __str__(self) -> str:
        """The folder or file, as a path (the copier-ml fixtures read from it)."""
        return str(self.path)

    def __eq__(self, other: object) -> bool:
        """Equal to a guarded path to the same place (repo-review compares its fixtures)."""
        return isinstance(other, GuardedPath) and other.path == self.path

    def __hash__(self) -> int:
        """Hash as the path does."""
        return hash(self.path)

    @property
    def name(self) -> str:
        """The last part of the path."""
        return self.path.name

    def joinpath(self, *parts: str) -> "GuardedPath":
        """The guarded path below this one."""
        return GuardedPath(self.path.joinpath(*parts))

    def __truediv__(self, part: str) -> "GuardedPath":
        """The guarded path below this one."""
        return self.joinpath(part)

    def is_file(self) -> bool:
        """Tell whether this is a regular file (after links)."""
        return self.path.is_file()

    def is_dir(self) -> bool:
        """Tell whether this is a folder (after links)."""
        return self.path.is_dir()

    def iterdir(self) -> Iterator["GuardedPath"]:
        """The guarded entries of this folder."""
        return (GuardedPath(child) for child in self.path.iterdir())

    def read_bytes(self) -> bytes:
        """The file's bytes, within the guards (as UTF-8 text: configuration is text)."""
        return read_text(self.path, self.path.name).encode("utf-8")

    def read_text(self, encoding: str | None = None) -> str:
        """The file's text, within the guards (UTF-8, whatever ``encoding`` says)."""
        del encoding
        return read_text(self.path, self.path.name)

    def open(self, mode: str = "r", *_: Any, **__: Any) -> IO[Any]:  # noqa: ANN401 - as Traversable
        """Open the file for reading, within the guards (its content is read at once)."""
        if "b" in mode:
            return io.BytesIO(self.read_bytes())
        return io.StringIO(self.read_text())


class OutOfTime(Exception):  # noqa: N818 - reads as the verdict
    """A project took longer than its time budget."""


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise ``OutOfTime`` in this block after ``seconds``, where the platform has SIGALRM.

    Elsewhere (Windows) the size guards still hold, but there is no time limit.
    """
    if not hasattr(signal, "SIGALRM") or seconds <= 0:
        yield
        return

    def expire(_signal: int, _frame: FrameType | None) -> None:
        raise OutOfTime(f"took longer than {seconds:g} seconds")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Result:
    """The verdict of one check: ``ok`` is ``None`` when it was skipped."""

    code: str
    description: str
    ok: bool | None
    problems: tuple[str, ...] = ()

    @property
    def area(self) -> str:
        """The part of the standard the check belongs to (``ruff`` for ``CML302``)."""
        return AREAS.get(self.code.removeprefix("CML")[:1], "other")


@dataclass(frozen=True)
class Report:
    """Everything the run found about one project."""

    path: str
    template: TemplateStatus
    results: tuple[Result, ...] = ()
    error: str | None = None

    @property
    def conformant(self) -> bool:
        """Tell whether the project could be checked and failed no check."""
        return self.error is None and all(result.ok is not False for result in self.results)

    def area_ok(self, area: str) -> bool | None:
        """Tell whether every check of ``area`` passed (``None``: the project was not checked)."""
        if self.error is not None:
            return None
        return all(result.ok is not False for result in self.results if result.area == area)

    def problems(self) -> list[str]:
        """Every problem, one per line, with the check that found it."""
        lines = [f"error: {self.error}"] if self.error else []
        if self.template.error:
            lines.append(f"template: {self.template.error}")
        return lines + [
            f"{result.code} {result.area}: {problem}"
            for result in self.results
            for problem in result.problems
        ]

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "path": self.path,
            "template": asdict(self.template),
            "conformant": self.conformant,
            "error": self.error,
            "checks": {
                result.code: {
                    "area": result.area,
                    "description": result.description,
                    "ok": result.ok,
                    "problems": list(result.problems),
                }
                for result in self.results
            },
        }

    @classmethod
    def refused(cls, project: Path, error: str) -> Self:
        """The report of a project that could not be checked."""
        return cls(str(project), TemplateStatus(error="not read"), error=error)


def without_own_settings(pyproject: object) -> dict[str, Any]:
    """Return ``pyproject`` data without ``[tool.repo-review]``, which the platform run ignores."""
    data = dict(mapping(pyproject))
    data["tool"] = {k: v for k, v in mapping(data.get("tool")).items() if k != "repo-review"}
    return data


def run_checks(project: Path) -> tuple[Result, ...]:
    """Run the copier-ml checks on ``project`` with repo-review; return their results.

    The selection is ``CML``, whatever the project's ``[tool.repo-review]`` says: its
    settings are taken out of the data repo-review reads them from.
    """
    root = GuardedPath(project)
    collected = collect_all(root)  # type: ignore[arg-type] # GuardedPath is a Traversable
    fixtures = {
        **collected.fixtures,
        "pyproject": without_own_settings(collected.fixtures["pyproject"]),
    }
    _, results = process(
        root,  # type: ignore[arg-type]
        select=frozenset({"CML"}),
        collected=collected._replace(fixtures=fixtures),
    )
    return tuple(
        Result(
            result.name,
            result.description,
            result.result,
            tuple(line.removeprefix("- ") for line in result.err_msg.splitlines() if line),
        )
        for result in results
        if result.family == FAMILY
    )


def check_project(
    project: Path, template: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> Report:
    """Check ``project`` and compare its template release with the newest.

    Whatever the project holds, this returns a report: a folder that is not one, a file a
    guard refuses, a check that crashes or a run past ``timeout`` is the report's error.
    """
    if not project.is_dir():
        return Report.refused(project, "not a folder")
    try:
        with time_budget(timeout):
            results = run_checks(project)
            answers = copier_answers(GuardedPath(project)).data  # type: ignore[arg-type]
            status = template_status(answers, project, template)
    except (Unreadable, OutOfTime) as error:
        return Report.refused(project, str(error))
    except Exception as error:  # noqa: BLE001 - one odd project must not end the others' reports
        return Report.refused(project, f"cannot be checked: {type(error).__name__}: {error}")
    return Report(str(project), status, results)


# --- Output -----------------------------------------------------------------------------


def table(reports: Sequence[Report]) -> str:
    """Return the reports as a table for people, then each problem on its own line."""
    header = ["project", "template", "latest", "up to date", *AREAS.values(), "standard"]
    rows = [
        [
            report.path,
            report.template.version or "?",
            report.template.latest or "?",
            UP_TO_DATE_CELLS[report.template.up_to_date],
            *(VERDICT_CELLS[report.area_ok(area)] for area in AREAS.values()),
            "meets" if report.conformant else "BELOW",
        ]
        for report in reports
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    for report in reports:
        if notes := report.problems():
            lines += ["", f"{report.path}:", *(f"  {note}" for note in notes)]
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
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up on a project after this long (default: {DEFAULT_TIMEOUT:g}; 0: never)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Check the projects named on the command line; return the exit status."""
    arguments = parse_arguments(argv)
    reports = [
        check_project(project, arguments.template, arguments.timeout)
        for project in arguments.projects
    ]
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
