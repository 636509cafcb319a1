"""The dataset schema: what each column is, decided once by ``prepare``, then enforced.

``infer_schema`` reads the source table and the ``[data]`` settings and decides which
columns are features (numeric or categorical), what the target is and which task it makes.
The result is saved in ``dataset.json``; every later command checks its input against it
(``DatasetSchema.validate``, a pandera schema run lazily, so that one error lists every
problem with its row and column).

Categorical values are compared as text (``category_text``): ``True``, ``"true"`` and
``"TRUE"`` are one category, and so are ``3`` and ``3.0``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self, cast

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from ._exceptions import DataError, Problem, Source
from .config import DataSettings
from .contract import Task
from .sources import ColumnType, column_type

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
Kind = Literal["numeric", "categorical"]
Label = str | int | bool
# An integer target with at most this many distinct values is a class label.
MAX_INFERRED_CLASSES = 20
# A text column whose values are numbers at least this often is a numeric column with typos.
NUMERIC_SHARE = 0.9
# The median of a numeric column (an example value) is that of at most about this many rows,
# evenly spaced through the table.
MEDIAN_SAMPLE = 100_000
# Problems found in one column before the others are looked at.
MAX_PROBLEMS_PER_COLUMN = 5
FINITE = pa.Check(lambda values: ~np.isinf(pd.to_numeric(values, errors="coerce")), name="finite")


def category_text(values: pd.Series[Any]) -> pd.Series[Any]:
    """Return categorical values as text, missing values as NaN.

    Booleans and the words true and false (any case) become ``"true"`` and ``"false"``;
    whole numbers lose their decimal point (``3.0`` becomes ``"3"``), so a column of codes
    reads the same from CSV, Parquet and JSON.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.map({True: "true", False: "false"}).astype(object)
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.astype("float64")
        whole = numbers.notna() & (numbers == np.floor(numbers)) & np.isfinite(numbers)
        text = numbers.astype(str).astype(object)
        text[whole] = numbers[whole].astype("int64").astype(str)
        return text.where(numbers.notna(), np.nan)
    text = values.astype(object).where(values.notna(), np.nan)
    present = text.notna()
    as_string = text[present].map(str)
    lowered = as_string.str.lower()
    text[present] = as_string.where(~lowered.isin(["true", "false"]), lowered)
    return text


def class_labels(values: pd.Series[Any]) -> pd.Series[Any]:
    """Return target values as class labels: text, booleans, or whole numbers as int64.

    Missing values stay missing; a number that is not whole stays a float (and will not
    match a class).
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return values
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.astype("float64")
        if bool((numbers.dropna() == np.floor(numbers.dropna())).all()):
            return numbers.astype("Int64") if numbers.isna().any() else numbers.astype("int64")
        return numbers
    return values.astype(object).where(values.notna(), np.nan)


def _label(value: Any) -> Label:  # noqa: ANN401 - a NumPy or Python scalar
    """Return a class label as a plain Python value, as JSON keeps it."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    return str(value)


@dataclass(frozen=True)
class Feature:
    """A feature column: its kind, its type in the source, and what training saw of it."""

    name: str
    kind: Kind
    dtype: ColumnType
    nullable: bool
    missing_rate: float = 0.0
    categories: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    median: float | None = None
    """The median (an example value): of every row, or of about ``MEDIAN_SAMPLE`` of them."""


@dataclass(frozen=True)
class Target:
    """The column to predict: the task, and the classes or the range of values seen."""

    name: str
    task: Task
    dtype: ColumnType
    classes: tuple[Label, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class DatasetSchema:
    """Everything later commands need to know about the columns of the data."""

    features: tuple[Feature, ...]
    target: Target
    id_columns: tuple[str, ...] = ()
    pseudonymized: tuple[str, ...] = ()
    version: int = field(default=SCHEMA_VERSION)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns, in the order the preprocessing reads them."""
        return tuple(feature.name for feature in self.features)

    def of_kind(self, kind: Kind) -> tuple[Feature, ...]:
        """The features of one kind, in order."""
        return tuple(feature for feature in self.features if feature.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form saved in ``dataset.json``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a schema saved by ``to_dict``.

        Raises:
            ValueError, KeyError, TypeError: the document does not have the saved shape.
        """
        if data["version"] != SCHEMA_VERSION:
            raise ValueError(f"schema version {data['version']}, expected {SCHEMA_VERSION}")
        features = tuple(
            Feature(**(feature | {"categories": tuple(feature["categories"])}))
            for feature in data["features"]
        )
        target = data["target"]
        return cls(
            features=features,
            target=Target(**(target | {"classes": tuple(target["classes"])})),
            id_columns=tuple(data["id_columns"]),
            pseudonymized=tuple(data["pseudonymized"]),
            version=data["version"],
        )

    def frame_schema(self, *, with_target: bool, allow_missing: bool) -> pa.DataFrameSchema:
        """Return the pandera schema of rows with these features (and target).

        A feature may miss values where training saw some, or everywhere ``allow_missing``.
        """
        columns: dict[str, pa.Column] = {}
        for feature in self.features:
            nullable = feature.nullable or allow_missing
            if feature.kind == "numeric":
                columns[feature.name] = pa.Column(
                    "float64", checks=FINITE, nullable=nullable, coerce=True
                )
            else:
                columns[feature.name] = pa.Column(nullable=nullable)
        if with_target:
            target = self.target
            if target.task == "classification":
                check = pa.Check.isin(list(target.classes))
                columns[target.name] = pa.Column(checks=check, nullable=False)
            else:
                columns[target.name] = pa.Column(
                    "float64", checks=FINITE, nullable=False, coerce=True
                )
        return pa.DataFrameSchema(columns, strict=False)

    def validate(
        self,
        frame: pd.DataFrame,
        source: Source,
        *,
        with_target: bool = False,
        allow_missing: bool = False,
    ) -> pd.DataFrame:
        """Check ``frame`` and return its features (and target) ready for the preprocessing.

        Numeric columns become float64 and categorical ones text (``category_text``);
        other columns are dropped, except the ID columns, which are kept when present. With
        ``allow_missing``, any feature may miss values (new rows to predict: the
        preprocessing imputes them); otherwise only those that missed some in training.

        Raises:
            DataError: a column is missing, a value is not a number, a column that was
                complete in training has a missing value (unless ``allow_missing``), or
                (``with_target``) a class is unknown. The message lists every problem with
                its row and column.
        """
        wanted = [*self.feature_names, *([self.target.name] if with_target else [])]
        missing = [name for name in wanted if name not in frame.columns]
        if missing:
            names = ", ".join(repr(name) for name in missing)
            have = ", ".join(repr(str(name)) for name in frame.columns)
            raise DataError.one(source, f"missing column(s) {names}; the input has {have}")
        ids = [name for name in self.id_columns if name in frame.columns]
        selected = frame[wanted + ids].copy()
        for feature in self.of_kind("categorical"):
            selected[feature.name] = category_text(selected[feature.name])
        if with_target and self.target.task == "classification":
            selected[self.target.name] = class_labels(selected[self.target.name])
        try:
            return self.frame_schema(with_target=with_target, allow_missing=allow_missing).validate(
                selected, lazy=True
            )
        except SchemaErrors as errors:
            raise DataError(source, describe_failures(errors.failure_cases, self)) from None


def describe_failures(cases: pd.DataFrame, schema: DatasetSchema) -> list[Problem]:
    """Turn pandera's failure cases into problems a person can act on, in row order."""
    problems: dict[tuple[int, str], Problem] = {}
    order = {name: position for position, name in enumerate(schema.feature_names)}
    for case in cases.to_dict(orient="records"):
        column, check, value, index = (
            str(case["column"]),
            str(case["check"]),
            case["failure_case"],
            case["index"],
        )
        if index is None or pd.isna(index):
            continue
        row = int(index) + 1
        if check.startswith("coerce_dtype"):
            message = f"expected a number, got {value!r}"
        elif check == "not_nullable":
            message = "missing value (the column was complete in the training data)"
        elif check == "finite":
            message = f"expected a finite number, got {value!r}"
        elif check.startswith("isin"):
            known = ", ".join(repr(label) for label in schema.target.classes)
            message = f"unknown class {value!r} (the model knows {known})"
        else:
            continue  # a dtype failure repeats the coercion failure of the same value
        problems.setdefault((row, column), Problem(message, row=row, column=column))
    return [
        problems[key]
        for key in sorted(problems, key=lambda key: (key[0], order.get(key[1], len(order))))
    ]


@dataclass
class _Findings:
    """What ``infer_schema`` found wrong, column by column."""

    problems: list[Problem] = field(default_factory=list)

    def bad_values(self, column: str, values: pd.Series[Any], message: str) -> None:
        """Record up to ``MAX_PROBLEMS_PER_COLUMN`` bad values of ``column``, by row."""
        for index, value in values.head(MAX_PROBLEMS_PER_COLUMN).items():
            row = int(cast("int", index)) + 1
            self.problems.append(Problem(message.format(value=value), row=row, column=column))
        if len(values) > MAX_PROBLEMS_PER_COLUMN:
            hidden = len(values) - MAX_PROBLEMS_PER_COLUMN
            self.problems.append(Problem(f"{hidden} more such values", column=column))


def _as_numbers(
    values: pd.Series[Any], column: str, findings: _Findings
) -> pd.Series[float] | None:
    """Return a column as float64, or ``None`` if it is text rather than numbers.

    Text that is mostly numbers is a numeric column with typos: the values that are not
    numbers are recorded as problems.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers: pd.Series[float] = values.astype("float64")  # no copy: pandas copies on write
    else:
        present = values.notna()
        numbers = pd.to_numeric(values.where(present), errors="coerce")
        parsed = numbers.notna()
        if parsed.sum() < NUMERIC_SHARE * present.sum() or not parsed.any():
            return None
        findings.bad_values(column, values[present & ~parsed], "expected a number, got {value!r}")
    infinite = np.isinf(numbers.to_numpy())
    if infinite.any():
        findings.bad_values(column, values[infinite], "expected a finite number, got {value!r}")
    return numbers


def _infer_task(target: pd.Series[Any], name: str, requested: str) -> Task:
    """Decide the task from the target column when ``data.task`` is ``auto``; log why."""
    if requested in ("classification", "regression"):
        return cast("Task", requested)
    dtype = column_type(target)
    distinct = target.nunique()
    whole = dtype == "integer" or (
        dtype == "float" and bool((target.dropna() == np.floor(target.dropna())).all())
    )
    if dtype in ("boolean", "text"):
        task: Task = "classification"
        reason = f"holds {'booleans' if dtype == 'boolean' else 'text'}"
    elif whole and distinct <= MAX_INFERRED_CLASSES:
        task, reason = "classification", f"holds whole numbers with {distinct} distinct values"
    else:
        task, reason = "regression", f"holds numbers with {distinct} distinct values"
    other = "regression" if task == "classification" else "classification"
    logger.info(
        "task: %s, because the target %r %s (set data.task = %r to override)",
        task,
        name,
        reason,
        other,
    )
    return task


def _target(
    values: pd.Series[Any], name: str, task: Task, findings: _Findings
) -> tuple[Target, pd.Series[Any]]:
    """Describe the target column and return it in the form the task needs."""
    dtype = column_type(values)
    if task == "regression":
        numbers = _as_numbers(values, name, findings)
        if numbers is None:
            example = values.dropna().iloc[0]
            raise DataError.one(
                None,
                f"the target {name!r} holds text such as {example!r}, not numbers: set "
                'data.task = "classification" to predict it as a class',
            )
        return Target(
            name, task, dtype, minimum=float(numbers.min()), maximum=float(numbers.max())
        ), numbers
    labels = class_labels(values)
    distinct = {_label(value) for value in pd.unique(labels.dropna())}
    classes = tuple(sorted(distinct, key=lambda label: (str(type(label)), label)))
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "no values"
        raise DataError.one(
            None, f"the target {name!r} has {found}: a classifier needs at least 2 classes"
        )
    return Target(name, task, dtype, classes=classes), labels


def _feature(
    name: str,
    values: pd.Series[Any],
    settings: DataSettings,
    findings: _Findings,
) -> tuple[Feature, pd.Series[Any]] | None:
    """Describe one feature column and return it normalised; ``None`` if it has no values."""
    present = values.notna()
    if not present.any():
        findings.problems.append(
            Problem("every value is missing: list it in data.drop", column=name)
        )
        return None
    dtype = column_type(values)
    nullable = not bool(present.all())
    missing_rate = round(1 - float(present.mean()), 6)
    numbers = None if name in settings.categorical else _as_numbers(values, name, findings)
    if numbers is not None:
        # Infinite values are problems already: the statistics are those of finite ones.
        step = max(1, len(numbers) // MEDIAN_SAMPLE)
        return Feature(
            name,
            "numeric",
            dtype,
            nullable,
            missing_rate,
            minimum=float(numbers.min()),
            maximum=float(numbers.max()),
            median=float(numbers.iloc[::step].median()),
        ), numbers
    text = category_text(values)
    counts = text.value_counts(sort=False)
    ranked = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
    categories = tuple(str(category) for category, _ in ranked[: settings.max_categories])
    if len(ranked) > settings.max_categories:
        rare = sum(int(count) for _, count in ranked[settings.max_categories :])
        logger.warning(
            "column %r has %d categories: the %d rarest (%d rows) are encoded as unknown "
            "(data.max_categories = %d)",
            name,
            len(ranked),
            len(ranked) - settings.max_categories,
            rare,
            settings.max_categories,
        )
    if len(ranked) > 20 and len(ranked) > 0.5 * int(present.sum()):
        logger.warning(
            "column %r has a different value in most rows: if it identifies rows, list it "
            "in data.id_columns; if it is free text or a date, in data.drop",
            name,
        )
    return Feature(name, "categorical", dtype, nullable, missing_rate, categories), text


@dataclass(frozen=True)
class Inferred:
    """The schema ``infer_schema`` decided, the table in its normal form, what it dropped."""

    schema: DatasetSchema
    frame: pd.DataFrame
    rows_without_target: int


def infer_schema(
    frame: pd.DataFrame, settings: DataSettings, target_name: str, source: Source
) -> Inferred:
    """Decide the schema of ``frame`` under the ``[data]`` settings; normalise the frame.

    Rows without a target value are left out (and counted). Features are the columns the
    settings name, or every column but the target, ``drop`` and ``id_columns``.

    Raises:
        DataError: a configured column is absent, a numeric column holds values that are not
            numbers, a feature has no values, or the target cannot make the task.
    """
    configured = {
        "data.target": [target_name],
        **{
            f"data.{name}": list(getattr(settings, name))
            for name in ("features", "categorical", "drop", "id_columns", "pseudonymize")
        },
    }
    absent = [
        f"{setting} names {column!r}"
        for setting, columns in configured.items()
        for column in columns
        if column not in frame.columns
    ]
    if absent:
        have = ", ".join(repr(str(name)) for name in frame.columns)
        raise DataError.one(source, f"{'; '.join(absent)}, which is not a column; it has {have}")
    excluded = {target_name, *settings.drop, *settings.id_columns}
    names = list(settings.features) or [str(c) for c in frame.columns if c not in excluded]
    if not names:
        raise DataError.one(
            source, "no feature columns are left: check data.features and data.drop"
        )
    has_target = frame[target_name].notna()
    rows_without_target = int((~has_target).sum())
    if rows_without_target:
        logger.warning(
            "%s: %d rows have no value in the target column %r; they are left out",
            source,
            rows_without_target,
            target_name,
        )
        frame = frame[has_target]
    findings = _Findings()
    try:
        task = _infer_task(frame[target_name], target_name, settings.task)
        target, target_values = _target(frame[target_name], target_name, task, findings)
    except DataError as error:
        raise DataError(source, error.problems) from None
    features, columns = [], {}
    for name in names:
        described = _feature(name, frame[name], settings, findings)
        if described is not None:
            features.append(described[0])
            columns[name] = described[1]
    if findings.problems:
        raise DataError(source, findings.problems)
    columns[target_name] = target_values
    for name in settings.id_columns:
        columns[name] = frame[name]
    normal = pd.DataFrame(columns, index=frame.index, copy=False)
    schema = DatasetSchema(
        tuple(features),
        target,
        id_columns=settings.id_columns,
        pseudonymized=settings.pseudonymize,
    )
    return Inferred(schema, normal, rows_without_target)


def labels_to_codes(
    labels: pd.Series[Any], classes: Sequence[Label]
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Return the class index of each label (the order of ``classes``)."""
    codes = pd.Index(list(classes), dtype=object).get_indexer(pd.Index(labels.astype(object)))
    return np.asarray(codes, dtype=np.int64)
