"""Typed loading, validation and preprocessing of tabular data.

A ``Schema`` names the numeric feature columns (with optional bounds) and the integer target
column. ``load_csv`` and ``parse_rows`` check every value against it and raise ``DataError``
naming the row and field of the first bad value; row 1 is the first record after the header.
The result is a ``Table`` of NumPy arrays. Conversion, checks and preprocessing are
vectorised: the only per-row Python work is the CSV reader itself.

NumPy is the one dependency, in every variant of the project.
"""

import csv
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self, TextIO

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MAX_ROWS = 50_000_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # the range of a class label (np.int64)


class DataError(ValueError):
    """A record does not match the schema; ``row`` and ``field`` say where."""

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None) -> None:
        """Build the error; the string form starts with the row and field when known."""
        self.row = row
        self.field = field
        where = ", ".join(
            part
            for part in (
                f"row {row}" if row is not None else "",
                f"field {field!r}" if field is not None else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class Column:
    """A numeric feature column; values outside ``[minimum, maximum]`` are rejected."""

    name: str
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Schema:
    """The columns a dataset must have: numeric features and an optional integer target."""

    features: tuple[Column, ...]
    target: str | None = None

    def __post_init__(self) -> None:
        """Refuse a schema without features or with a column name used twice."""
        if not self.features:
            raise ValueError("a schema needs at least one feature column")
        names = [column.name for column in self.features]
        if self.target is not None:
            names.append(self.target)
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"column names must be unique, repeated: {duplicates}")

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the feature columns, in order."""
        return tuple(column.name for column in self.features)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the data must have: the features, then the target if any."""
        return self.feature_names + ((self.target,) if self.target is not None else ())


@dataclass(frozen=True)
class Table:
    """Validated data: a ``(rows, features)`` float matrix and, optionally, integer labels."""

    features: FloatArray
    feature_names: tuple[str, ...]
    target: IntArray | None = field(default=None)

    def __post_init__(self) -> None:
        """Check that the arrays agree with each other and with the feature names."""
        if self.features.ndim != 2 or self.features.shape[1] != len(self.feature_names):
            raise ValueError(
                f"features must have shape (rows, {len(self.feature_names)}), "
                f"got {self.features.shape}"
            )
        if self.target is not None and self.target.shape != (self.features.shape[0],):
            raise ValueError(
                f"target must have shape ({self.features.shape[0]},), got {self.target.shape}"
            )

    def __len__(self) -> int:
        """Number of rows."""
        return int(self.features.shape[0])

    @property
    def labels(self) -> IntArray:
        """The target column; a table without one raises ``ValueError``."""
        if self.target is None:
            raise ValueError("this table has no target column")
        return self.target

    def take(self, rows: IntArray) -> Self:
        """Return the rows at the given indices, as a new table."""
        target = self.target[rows] if self.target is not None else None
        return replace(self, features=self.features[rows], target=target)


def _first_failure(values: Sequence[str], convert: type[float] | type[int]) -> tuple[int, str]:
    """Return the index and message of the first value ``convert`` rejects."""
    for index, value in enumerate(values):
        text = value.strip()
        if not text:
            return index, "missing value"
        try:
            convert(text)
        except ValueError:
            kind = "a number" if convert is float else "an integer"
            return index, f"expected {kind}, got {value!r}"
    raise AssertionError("no failing value")  # pragma: no cover - called only after a failure


def _numbers(name: str, values: Sequence[str], first_row: int) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except ValueError:
        index, message = _first_failure(values, float)
        raise DataError(message, row=first_row + index, field=name) from None
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        index = int(bad[0])
        raise DataError(
            f"expected a finite number, got {values[index]!r}", row=first_row + index, field=name
        )
    return array


def _labels(name: str, values: Sequence[str], first_row: int) -> IntArray:
    try:
        labels = [int(value) for value in values]
    except ValueError:
        index, message = _first_failure(values, int)
        raise DataError(message, row=first_row + index, field=name) from None
    for index, label in enumerate(labels):
        if not INT64_MIN <= label <= INT64_MAX:
            message = f"expected an integer of at most 64 bits, got {values[index]!r}"
            raise DataError(message, row=first_row + index, field=name)
    return np.asarray(labels, dtype=np.int64)


def _check_bounds(column: Column, values: FloatArray, first_row: int) -> None:
    low = -math.inf if column.minimum is None else column.minimum
    high = math.inf if column.maximum is None else column.maximum
    bad = np.flatnonzero((values < low) | (values > high))
    if bad.size:
        index = int(bad[0])
        raise DataError(
            f"{values[index]:g} is outside [{low:g}, {high:g}]",
            row=first_row + index,
            field=column.name,
        )


def _table(columns: Mapping[str, Sequence[str]], schema: Schema, first_row: int) -> Table:
    matrix = np.empty((len(columns[schema.features[0].name]), len(schema.features)))
    for position, column in enumerate(schema.features):
        values = _numbers(column.name, columns[column.name], first_row)
        _check_bounds(column, values, first_row)
        matrix[:, position] = values
    target = None
    if schema.target is not None:
        target = _labels(schema.target, columns[schema.target], first_row)
    return Table(matrix, schema.feature_names, target)


def parse_rows(rows: Iterable[Mapping[str, Any]], schema: Schema, *, first_row: int = 1) -> Table:
    """Validate records (mappings from column name to value) and return them as a ``Table``.

    Extra keys are ignored; a missing key, an empty value, a non-numeric or non-finite
    feature, a value out of bounds or a non-integer target raises ``DataError``.
    """
    columns: dict[str, list[str]] = {name: [] for name in schema.columns}
    for number, record in enumerate(rows, start=first_row):
        if not isinstance(record, Mapping):
            raise DataError(
                f"expected a record of named fields, got {type(record).__name__}", row=number
            )
        for name, values in columns.items():
            if name not in record:
                raise DataError("missing field", row=number, field=name)
            values.append(str(record[name]))
    if not columns[schema.columns[0]]:
        raise DataError("no records")
    return _table(columns, schema, first_row)


def csv_rows(stream: TextIO) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Read the header line of CSV text; return it and an iterator of numbered data rows.

    Data rows are numbered from 1; blank lines are skipped and not counted. A row whose
    field count differs from the header's is refused rather than matched up by position
    (an unquoted comma would otherwise shift every later value into another field), and
    text the ``csv`` module cannot parse (such as a field over its size limit) raises
    ``DataError`` naming the row, like every other input problem.
    """
    reader = csv.reader(stream)

    def nonblank() -> Iterator[list[str]]:
        count = 0  # lines yielded: the header, then data rows 1, 2...
        while True:
            try:
                fields = next(reader, None)
            except csv.Error as error:
                if count == 0:
                    raise DataError(f"header line: not valid CSV: {error}") from None
                raise DataError(f"not valid CSV: {error}", row=count) from None
            if fields is None:
                return
            if fields:
                count += 1
                yield fields

    lines = nonblank()
    header = next(lines, None)
    if header is None:
        raise DataError("empty input: expected a CSV header line")

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, fields in enumerate(lines, start=1):
            if len(fields) != len(header):
                message = f"expected {len(header)} fields as in the header, got {len(fields)}"
                raise DataError(message, row=number)
            yield number, fields

    return header, rows()


def read_csv(stream: TextIO, schema: Schema, *, max_rows: int = MAX_ROWS) -> Table:
    """Read CSV text with a header line from ``stream`` and validate it against ``schema``."""
    header, numbered_rows = csv_rows(stream)
    missing = [name for name in schema.columns if name not in header]
    if missing:
        raise DataError(f"header lacks column(s) {missing}; it has {header}")
    positions = [header.index(name) for name in schema.columns]
    rows: list[list[str]] = []
    for number, row in numbered_rows:
        if number > max_rows:
            raise DataError(f"more than {max_rows} rows")
        rows.append(row)
    if not rows:
        raise DataError("no records after the header")
    columns = dict(zip(schema.columns, ([row[p] for row in rows] for p in positions), strict=True))
    return _table(columns, schema, first_row=1)


def load_csv(path: Path, schema: Schema, *, max_rows: int = MAX_ROWS) -> Table:
    """Read and validate a CSV file; errors name the file, the row and the field."""
    with path.open(newline="", encoding="utf-8") as stream:
        try:
            return read_csv(stream, schema, max_rows=max_rows)
        except DataError as error:
            raise DataError(f"{path}: {error}") from None


def write_csv(table: Table, path: Path, *, target_name: str = "target") -> None:
    """Write a table as CSV with a header line, the format ``load_csv`` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        header = list(table.feature_names)
        if table.target is not None:
            header.append(target_name)
        writer.writerow(header)
        for index in range(len(table)):
            row: list[object] = [repr(float(value)) for value in table.features[index]]
            if table.target is not None:
                row.append(int(table.target[index]))
            writer.writerow(row)


@dataclass(frozen=True)
class Standardizer:
    """Per-feature centring and scaling, fitted on training data and saved with the model."""

    mean: FloatArray
    scale: FloatArray

    @classmethod
    def fit(cls, features: FloatArray) -> Self:
        """Learn each column's mean and standard deviation (a constant column keeps scale 1).

        Constant columns are found by comparing values, not by a zero standard deviation:
        rounding leaves one of about 1e-17 for a column of 0.1s, and scaling by it would
        turn a difference of 1e-7 in new data into one of 1e10.
        """
        if features.ndim != 2 or features.shape[0] == 0:
            raise ValueError(
                f"expected a non-empty (rows, features) matrix, got shape {features.shape}"
            )
        constant = features.min(axis=0) == features.max(axis=0)
        scale = np.where(constant, 1.0, features.std(axis=0))
        return cls(mean=features.mean(axis=0), scale=scale)

    def transform(self, features: FloatArray) -> FloatArray:
        """Return ``(features - mean) / scale``."""
        if features.ndim != 2 or features.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"expected {self.mean.shape[0]} feature columns, got shape {features.shape}"
            )
        return (features - self.mean) / self.scale

    def to_dict(self) -> dict[str, list[float]]:
        """Return a JSON-ready form, for saving next to a model."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[float]]) -> Self:
        """Rebuild a standardizer saved with ``to_dict``."""
        mean = np.asarray(data["mean"], dtype=np.float64)
        scale = np.asarray(data["scale"], dtype=np.float64)
        if mean.shape != scale.shape or mean.ndim != 1 or not np.all(scale > 0):
            raise ValueError(
                "a saved standardizer needs equal-length mean and positive scale lists"
            )
        return cls(mean=mean, scale=scale)


def binarize(values: ArrayLike, threshold: float) -> IntArray:
    """Return 1 where ``values >= threshold`` and 0 elsewhere (e.g. scores to labels).

    Raises:
        ValueError: a value or the threshold is NaN, where the comparison has no answer.
    """
    array = np.asarray(values, dtype=np.float64)
    if math.isnan(threshold) or np.isnan(array).any():
        raise ValueError("cannot binarize NaN: clean or impute the values first")
    return (array >= threshold).astype(np.int64)


def select_rows(
    table: Table, feature: str, *, minimum: float = -math.inf, maximum: float = math.inf
) -> Table:
    """Keep the rows whose ``feature`` lies in ``[minimum, maximum]``."""
    if feature not in table.feature_names:
        raise ValueError(f"unknown feature {feature!r}; the table has {list(table.feature_names)}")
    values = table.features[:, table.feature_names.index(feature)]
    return table.take(np.flatnonzero((values >= minimum) & (values <= maximum)))


def train_test_split(table: Table, *, test_fraction: float, seed: int) -> tuple[Table, Table]:
    """Shuffle the rows with ``seed`` and split them into a training and a test table.

    The same seed always gives the same split. Both parts get at least one row.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    if len(table) < 2:
        raise ValueError(f"need at least 2 rows to split, got {len(table)}")
    order = np.random.default_rng(seed).permutation(len(table))
    test_size = min(max(1, round(len(table) * test_fraction)), len(table) - 1)
    return table.take(order[test_size:]), table.take(order[:test_size])


def synthetic_classification(
    *, samples: int, features: int, classes: int, noise: float, seed: int
) -> Table:
    """Return a seeded classification dataset: Gaussian clusters, one per class.

    Class centres are drawn on a sphere of radius 3 and each point gets isotropic noise of
    standard deviation ``noise``, so the classes overlap and no model is perfect. The same
    arguments always give the same table.
    """
    if samples < classes:
        raise ValueError(
            f"need at least one sample per class: {samples} samples, {classes} classes"
        )
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, features))
    centres *= 3.0 / np.linalg.norm(centres, axis=1, keepdims=True)
    target = np.arange(samples, dtype=np.int64) % classes
    rng.shuffle(target)
    points = centres[target] + rng.normal(scale=noise, size=(samples, features))
    names = tuple(f"x{index}" for index in range(features))
    return Table(points, names, target)
