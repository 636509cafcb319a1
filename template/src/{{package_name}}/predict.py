"""Predict classes for new rows with the saved model.

Input rows come from a CSV file with a header line, or from JSON lines (one object per
line); both name the features exactly as the training data did, and extra columns (such
as a target) are ignored. Bad input raises ``DataError`` naming the row and the field.
"""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self, TextIO

import numpy as np

from .data import Column, DataError, Schema, parse_rows
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
    """Yield the input rows as mappings from column name to value."""
    if input_format == "csv":
        reader = csv.DictReader(stream)
        if reader.fieldnames is None:
            raise DataError("empty input: expected a CSV header line")
        yield from reader
        return
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
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

    def predict(self, records: Iterator[dict[str, Any]]) -> list[Prediction]:
        """Validate the records and predict each one's class."""
        rows = []
        for count, record in enumerate(records, start=1):
            if count > MAX_ROWS:
                raise DataError(f"more than {MAX_ROWS} rows: split the input")
            rows.append(record)
        table = parse_rows(rows, self.schema)
        probabilities = self.classifier.predict_proba(table.features)
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
