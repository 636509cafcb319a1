"""What ``train`` saves of the training rows for monitoring, and drift's basic measure.

``train`` saves a reference of the training rows beside the model (``models/reference.json``):
for each numeric feature its deciles, the share of rows between them and a sample of values;
for each categorical one the share of each category; each feature's missing rate; and the
same for the model's predictions on those rows. The population stability index (``psi``)
of new rows against it is what ``monitor`` reports and the API's drift gauges show. This
module needs only NumPy and pandas, so an API serving the ONNX graph loads no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import pandas as pd

from .artifacts import read_document, write_json
from .contract import FloatArray
from .schema import DatasetSchema

REFERENCE_FILE = "reference.json"
REFERENCE_VERSION = 1
PREDICTION = "(prediction)"
# Shares are floored here before a logarithm: an empty bin is rare, not impossible.
SMALLEST_SHARE = 1e-4
# Values of each numeric feature kept for the two-sample test.
SAMPLE = 2000
Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Distribution:
    """How one column's values are spread: bins (numbers) or categories, missing values."""

    kind: Kind
    rows: int
    missing_rate: float
    shares: tuple[float, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    sample: tuple[float, ...] = ()

    def counts(self, values: pd.Series[Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Count ``values`` (missing ones left out) in this distribution's bins."""
        present = values.dropna()
        if self.kind == "numeric":
            positions = np.searchsorted(
                np.asarray(self.edges), present.to_numpy(dtype="float64"), side="right"
            )
            return np.bincount(positions, minlength=len(self.edges) + 1).astype(np.int64)
        index = {category: position for position, category in enumerate(self.categories)}
        slots = present.astype(str).map(lambda value: index.get(value, len(index)))
        return np.bincount(slots.to_numpy(dtype=np.int64), minlength=len(index) + 1).astype(
            np.int64
        )


def describe(values: pd.Series[Any], kind: Kind, bins: int, seed: int) -> Distribution:
    """Describe the reference distribution of one column (its bins from its quantiles)."""
    present = values.dropna()
    missing_rate = 1 - len(present) / len(values) if len(values) else 0.0
    if kind == "numeric":
        numbers = present.to_numpy(dtype="float64")
        quantiles = np.quantile(numbers, np.linspace(0, 1, bins + 1)[1:-1]) if len(numbers) else []
        edges = tuple(sorted({float(edge) for edge in quantiles}))
        reference = Distribution(kind, len(values), missing_rate, (), edges=edges)
        rng = np.random.default_rng(seed)
        sample = rng.choice(numbers, size=min(SAMPLE, len(numbers)), replace=False)
        counts = reference.counts(present)
        shares = tuple(float(share) for share in counts / max(1, counts.sum()))
        return Distribution(
            kind,
            len(values),
            missing_rate,
            shares,
            edges=edges,
            sample=tuple(float(v) for v in sample),
        )
    categories = tuple(str(category) for category in present.astype(str).value_counts().index)
    reference = Distribution(kind, len(values), missing_rate, (), categories=categories)
    counts = reference.counts(present)
    return Distribution(
        kind,
        len(values),
        missing_rate,
        tuple(float(c) for c in counts / max(1, counts.sum())),
        categories=categories,
    )


def prediction_values(schema: DatasetSchema, scores: FloatArray) -> pd.Series[Any]:
    """The predictions as one column: the predicted class's label, or the value."""
    if schema.target.task == "classification":
        return pd.Series([str(schema.target.classes[index]) for index in scores.argmax(axis=1)])
    return pd.Series(scores)


@dataclass(frozen=True)
class Reference:
    """The training rows' distributions, saved with the model as ``reference.json``."""

    columns: dict[str, Distribution]
    version: int = REFERENCE_VERSION

    @classmethod
    def build(
        cls, schema: DatasetSchema, rows: pd.DataFrame, scores: FloatArray, bins: int, seed: int
    ) -> Self:
        """Describe the features of validated training rows and the model's predictions."""
        columns = {
            feature.name: describe(rows[feature.name], feature.kind, bins, seed)
            for feature in schema.features
        }
        kind: Kind = "categorical" if schema.target.task == "classification" else "numeric"
        columns[PREDICTION] = describe(prediction_values(schema, scores), kind, bins, seed)
        return cls(columns)

    def write(self, directory: Path) -> Path:
        """Save as ``directory/reference.json``."""
        return write_json(directory / REFERENCE_FILE, asdict(self))

    @classmethod
    def read(cls, directory: Path) -> Self:
        """Load the reference saved with a model.

        Raises:
            MissingArtifactError: the model was trained before references were saved.
            DamagedArtifactError: the file was altered.
        """
        return read_document(
            directory / REFERENCE_FILE, "train", cls.from_dict, version=REFERENCE_VERSION
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuild a reference from its JSON form.

        Raises:
            ValueError, KeyError, TypeError, AttributeError: ``data`` is not of that form.
        """
        columns = {
            name: Distribution(
                kind=entry["kind"],
                rows=int(entry["rows"]),
                missing_rate=float(entry["missing_rate"]),
                shares=tuple(entry["shares"]),
                edges=tuple(entry["edges"]),
                categories=tuple(entry["categories"]),
                sample=tuple(entry["sample"]),
            )
            for name, entry in data["columns"].items()
        }
        return cls(columns)


def psi(expected: Sequence[float], observed: np.ndarray[Any, Any]) -> float:
    """The population stability index of observed counts against expected shares."""
    if observed.sum() == 0:
        return 0.0
    actual = np.maximum(observed / observed.sum(), SMALLEST_SHARE)
    reference = np.maximum(np.asarray(expected, dtype=np.float64), SMALLEST_SHARE)
    return float(np.sum((actual - reference) * np.log(actual / reference)))
