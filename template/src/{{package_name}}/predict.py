"""Predict with the saved model: rows in, labels with probabilities (or values) out.

``Predictor.load`` reads what ``train`` saved: the run record (with the dataset schema),
the preprocessing and the model. ``Predictor.predict`` takes rows as they come from the
source, as a pandas DataFrame: columns it does not use (the target, dropped columns, any
other) are ignored, missing values are imputed (with a warning where training saw none),
and categories never seen in training are encoded as unknown, with a warning. It checks the rows against
the schema and returns one prediction per row, in order, with the ID columns copied over,
so that the results join back to the input.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Self

import numpy as np
import pandas as pd

from ._exceptions import DataError, Problem, Source
from .artifacts import atomic_path
from .contract import FloatArray, Runtime, Scorer, check_output
from .privacy import pseudonymization_key, pseudonymize
from .records import RunRecord
from .schema import DatasetSchema, Label
from .sources import ColumnType, Format, file_format, read_table

logger = logging.getLogger(__name__)

ROW = "row"
PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability_"
DECIMALS = 6
# Unseen categories a warning names per column.
MAX_NAMED_CATEGORIES = 3


@dataclass(frozen=True)
class Predictions:
    """One prediction per input row, in the order of the rows.

    ``frame`` has the columns ``row``, the ID columns, ``prediction`` and, for a classifier,
    one ``probability_<label>`` column per class.
    """

    frame: pd.DataFrame
    classes: tuple[Label, ...]
    id_columns: tuple[str, ...]
    inputs: pd.DataFrame
    """The validated rows the predictions are of (pseudonymised where the schema says)."""
    scores: FloatArray
    """The model's output for them: probabilities or values."""

    def __len__(self) -> int:
        """Number of predictions."""
        return len(self.frame)

    def to_jsonl(self) -> str:
        """Return the predictions as JSON lines, probabilities nested by label.

        pandas writes the plain columns and the probabilities as two sets of JSON lines in
        C; each pair is then joined into one object, which costs a fraction of building a
        dictionary per row.
        """
        plain = self.frame[[ROW, *self.id_columns, PREDICTION]]
        lines = _json_lines(plain)
        if self.classes:
            probabilities = self.frame[[f"{PROBABILITY_PREFIX}{label}" for label in self.classes]]
            probabilities.columns = [str(label) for label in self.classes]
            nested = _json_lines(probabilities)
            lines = [
                f'{row[:-1]},"probabilities":{values}}}'
                for row, values in zip(lines, nested, strict=True)
            ]
        return "".join(f"{line}\n" for line in lines)


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """Return each row of ``frame`` as a JSON object, in the order of the rows."""
    text: str = frame.to_json(orient="records", lines=True, force_ascii=False)
    return text.splitlines()


def write_predictions(predictions: Predictions, path: Path) -> Path:
    """Write predictions to ``path``, atomically, in the format its suffix names.

    JSON lines nest the probabilities by label; CSV, TSV and Parquet have one
    ``probability_<label>`` column per class.

    Raises:
        DataError: the suffix is not one of the formats ``sources.FORMATS`` knows.
    """
    fmt = file_format(path)
    with atomic_path(path) as temporary:
        if fmt == "jsonl":
            temporary.write_text(predictions.to_jsonl(), encoding="utf-8")
        elif fmt == "parquet":
            predictions.frame.to_parquet(temporary, index=False)
        else:
            predictions.frame.to_csv(temporary, index=False, sep="\t" if fmt == "tsv" else ",")
    return path


def reading_types(schema: DatasetSchema) -> dict[str, ColumnType]:
    """The type each feature is parsed as (see ``sources.read_table``); IDs keep theirs."""
    types: dict[str, ColumnType] = {}
    for feature in schema.features:
        types[feature.name] = "float" if feature.kind == "numeric" else "text"
    return types


class Predictor:
    """The saved model with its preprocessing, schema and run record."""

    def __init__(self, schema: DatasetSchema, scorer: Scorer, record: RunRecord) -> None:
        """Pair a loaded scorer with what its model was trained on."""
        self.schema = schema
        self.scorer = scorer
        self.record = record

    @classmethod
    def load(cls, models_dir: Path, runtime: Runtime = "native") -> Self:
        """Load the model, its preprocessing and its record from ``models_dir``.

        ``runtime="onnx"`` runs ``models/model.onnx`` (``export``) on ONNX Runtime instead:
        it imports no training framework, so an image for it can leave them out.

        Raises:
            ArtifactError: a file is missing or damaged (the message says what to rerun).
        """
        record = RunRecord.read(models_dir)
        features = record.schema.feature_names
        if runtime == "onnx":
            from .onnx_runtime import OnnxScorer  # noqa: PLC0415 - imports no framework

            return cls(record.schema, OnnxScorer.load(models_dir, record.schema), record)
        from .scoring import NativeScorer  # noqa: PLC0415 - imports the training framework

        return cls(record.schema, NativeScorer.load(models_dir, features), record)

    @property
    def classes(self) -> tuple[Label, ...]:
        """The labels a classifier predicts (none for a regressor)."""
        return self.schema.target.classes

    def read(self, source: Path | BinaryIO, fmt: Format, name: Source) -> pd.DataFrame:
        """Read the columns a prediction needs from a file or stream (see ``read_table``)."""
        types = reading_types(self.schema)
        try:
            columns = [*types, *self.schema.id_columns]
            return read_table(source, fmt, types=types, columns=columns)
        except DataError as error:
            raise DataError(name, error.problems) from None

    def scores(self, rows: pd.DataFrame, source: Source) -> FloatArray:
        """Return the model's output for validated rows: probabilities or values.

        Raises:
            DataError: the model gives NaN or infinity for a row (values too extreme).
        """
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            output = check_output(self.scorer.spec, self.scorer(rows), len(rows))
        finite = np.isfinite(output) if output.ndim == 1 else np.isfinite(output).all(axis=1)
        if not finite.all():
            positions = np.flatnonzero(~finite)[:10]
            message = "the model gives no valid prediction for values this extreme"
            raise DataError(source, [Problem(message, row=int(i) + 1) for i in positions])
        return output

    def predict(self, frame: pd.DataFrame, source: Source = "input") -> Predictions:
        """Check rows against the schema and predict each one.

        Raises:
            ConfigError: a column to pseudonymise arrives, but no key is set.
            DataError: rows miss a column or hold values the schema refuses; every
                problem is listed with its row and column.
        """
        if present := tuple(name for name in self.schema.pseudonymized if name in frame.columns):
            frame = pseudonymize(frame, present, pseudonymization_key(present))
        rows = self.schema.validate(frame, source, allow_missing=True)
        self.warn_unexpected_gaps(rows, source)
        self.warn_unknown_categories(rows, source)
        output = self.scores(rows, source)
        columns: dict[str, Any] = {ROW: np.arange(1, len(rows) + 1)}
        for name in self.schema.id_columns:
            if name in rows.columns:
                columns[name] = rows[name].to_numpy()
        if self.schema.target.task == "regression":
            columns[PREDICTION] = output
        else:
            labels = np.asarray(self.classes, dtype=object)
            columns[PREDICTION] = labels[output.argmax(axis=1)]
            rounded = np.round(output, DECIMALS)
            for index, label in enumerate(self.classes):
                columns[f"{PROBABILITY_PREFIX}{label}"] = rounded[:, index]
        ids = tuple(name for name in self.schema.id_columns if name in rows.columns)
        return Predictions(pd.DataFrame(columns), self.classes, ids, rows, output)

    def warn_unexpected_gaps(self, rows: pd.DataFrame, source: Source) -> None:
        """Log a warning per column, complete in training, that now has missing values."""
        for feature in self.schema.features:
            gaps = rows[feature.name].isna().to_numpy()
            if feature.nullable or not gaps.any():
                continue
            logger.warning(
                "%s: column %r: %d rows (the first is row %d) miss a value, which every "
                "training row had; it is imputed",
                source,
                feature.name,
                int(gaps.sum()),
                int(np.flatnonzero(gaps)[0]) + 1,
            )

    def warn_unknown_categories(self, rows: pd.DataFrame, source: Source) -> None:
        """Log a warning per categorical column whose rows hold categories training never saw."""
        for feature in self.schema.of_kind("categorical"):
            values = rows[feature.name]
            unseen = values.notna() & ~values.isin(feature.categories)
            if not unseen.any():
                continue
            found = values[unseen]
            named = ", ".join(repr(value) for value in found.unique()[:MAX_NAMED_CATEGORIES])
            first = int(np.flatnonzero(unseen.to_numpy())[0]) + 1
            logger.warning(
                "%s: column %r: %d rows (the first is row %d) hold categories not seen in "
                "training (%s); they are encoded as unknown",
                source,
                feature.name,
                int(unseen.sum()),
                first,
                named,
            )
