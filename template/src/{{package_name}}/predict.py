"""Predict classes for new rows with the saved model.

Input rows come from a CSV file with a header line, or from JSON lines (one object per
line); both name the features exactly as the training data did, and extra columns (such
as a target) are ignored. Bad input raises ``DataError`` naming the row and the field.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self, TextIO

import numpy as np

from .data import Column, DataError, FloatArray, Schema, csv_rows, parse_rows
from .model import Classifier
from .records import RunRecord

InputFormat = Literal["csv", "jsonl"]
MAX_ROWS = 1_000_000


@dataclass(frozen=True)
class Prediction:
    """The predicted class of one input row and the probability of every class."""

    row: int
    prediction: str
    probabilities: dict[str, float]


def read_records(stream: TextIO, input_format: InputFormat) -> Iterator[dict[str, Any]]:
    """Yield the input rows as mappings from column name to value.

    Rows are numbered from 1 in the order they arrive, as in the predictions; blank lines
    are skipped and not counted, and the CSV header is not a row. CSV rows are checked by
    ``data.csv_rows`` (field counts, parse errors).
    """
    if input_format == "csv":
        header, rows = csv_rows(stream)
        for _, fields in rows:
            yield dict(zip(header, fields, strict=True))
        return
    lines = (line for line in stream if line.strip())
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"not valid JSON: {error.msg}", row=number) from None
        if not isinstance(record, dict):
            raise DataError(f"expected a JSON object, got {type(record).__name__}", row=number)
        yield record


class Predictor:
    """The saved model with the feature names and classes it was trained on."""

    def __init__(self, classifier: Classifier, record: RunRecord) -> None:
        """Pair a loaded classifier with its run record."""
        self.classifier = classifier
        self.classes = record.classes
        self.schema = Schema(tuple(Column(name) for name in record.feature_names))

    @classmethod
    def load(cls, models_dir: Path) -> Self:
        """Load the model and its record from ``models_dir``."""
        return cls(Classifier.load(models_dir), RunRecord.read(models_dir))

    def _score(self, features: FloatArray) -> FloatArray:
        """Return class probabilities, refusing rows the model cannot score.

        Extreme (though finite) values can overflow inside a model: it then returns NaN or
        infinity, or refuses the batch; the first such row is named in a ``DataError``.
        """
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                probabilities = self.classifier.predict_proba(features)
            except ValueError:
                probabilities = np.full((features.shape[0], len(self.classes)), np.nan)
                for index in range(features.shape[0]):
                    row = features[index : index + 1]
                    try:
                        probabilities[index] = self.classifier.predict_proba(row)[0]
                    except ValueError:
                        break
        unusable = np.flatnonzero(~np.isfinite(probabilities).all(axis=1))
        if unusable.size:
            message = "the model gives no valid probabilities for values this extreme"
            raise DataError(message, row=int(unusable[0]) + 1)
        return probabilities

    def predict(self, records: Iterator[dict[str, Any]]) -> list[Prediction]:
        """Validate the records and predict each one's class."""
        rows = []
        for count, record in enumerate(records, start=1):
            if count > MAX_ROWS:
                raise DataError(f"more than {MAX_ROWS} rows: split the input")
            rows.append(record)
        table = parse_rows(rows, self.schema)
        probabilities = self._score(table.features)
        return [
            Prediction(
                row=index + 1,
                prediction=self.classes[int(np.argmax(row))],
                probabilities={
                    name: round(float(value), 6)
                    for name, value in zip(self.classes, row, strict=True)
                },
            )
            for index, row in enumerate(probabilities)
        ]
