"""The errors the package raises on purpose, in one hierarchy.

Every expected failure (a bad setting, bad input data, a missing, damaged or outdated
artifact) is a ``ProjectError`` whose message says what is wrong, where, and what to do.
The command line turns exactly these, and ``OSError``, into one ``error:`` line; anything
else that escapes is a bug and keeps its traceback.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from . import DISTRIBUTION

# How many problems a DataError spells out; the rest are counted.
MAX_LISTED_PROBLEMS = 10
# Where data came from, as an error names it: a file, or a name such as "standard input".
Source = str | Path | None


class ProjectError(Exception):
    """Base of every expected failure of the package."""


class ConfigError(ProjectError):
    """The settings file cannot be read, or a setting is invalid."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with input data: what, and where (row and column, when known).

    Rows count data rows from 1 in the order of the input, the header not counted: row 1
    is the first record of a CSV file (its line 2), of a JSON-lines file or of a Parquet
    file.
    """

    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        """Return ``row N, column 'c': message``, leaving out what is not known."""
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class DataError(ProjectError):
    """Input data does not have the shape or the values the pipeline needs.

    The message names the source, then up to ``MAX_LISTED_PROBLEMS`` problems with their row
    and column, on one line; ``problems`` holds every problem found.
    """

    def __init__(self, source: Source, problems: Sequence[Problem]) -> None:
        """Describe ``problems`` found in ``source`` (a file, or a name such as "request")."""
        if not problems:
            raise ValueError("a DataError needs at least one problem")
        self.source = source
        self.problems = tuple(problems)
        listed = "; ".join(str(problem) for problem in self.problems[:MAX_LISTED_PROBLEMS])
        hidden = len(self.problems) - MAX_LISTED_PROBLEMS
        if hidden > 0:
            listed += f" (and {hidden} more)"
        super().__init__(f"{source}: {listed}" if source is not None else listed)

    @classmethod
    def one(
        cls,
        source: Source,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
    ) -> Self:
        """Return the error for a single problem."""
        return cls(source, [Problem(message, row=row, column=column)])


class TrainingError(ProjectError):
    """Training cannot go on: the loss diverged, or the settings cannot fit the data."""


class ExportError(ProjectError):
    """The model cannot be exported, or its exported graph does not compute what it does."""


class ArtifactError(ProjectError):
    """A file the pipeline writes is missing, damaged or out of date.

    The message names the file, the problem and the command that writes it again.
    """

    def __init__(self, path: Path, problem: str, command: str) -> None:
        """Describe what is wrong with ``path`` and which command repairs it."""
        self.path = path
        self.command = command
        super().__init__(f"{path}: {problem}; run `{DISTRIBUTION} {command}`")


class MissingArtifactError(ArtifactError):
    """An artifact that a command reads has not been written yet."""


class DamagedArtifactError(ArtifactError):
    """An artifact exists but cannot be read back: it was edited, truncated or corrupted."""


class StaleArtifactError(ArtifactError):
    """An artifact no longer matches the files it was made from (or with)."""
