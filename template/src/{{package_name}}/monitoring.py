"""Model monitoring: do this week's rows still look like the training data?

``monitor`` compares a batch of production rows with the reference ``train`` saved of the
training rows (``reference``), feature by feature:

* the population stability index (PSI) of the binned shares, the usual measure of drift
  (under 0.1: stable; 0.1 to 0.2: shifting; over 0.2: drifted);
* a two-sample test from scipy: Kolmogorov-Smirnov for numbers, chi-squared for categories;
* the change of the missing rate;
* the PSI of the predictions (predicted classes, or binned values).

A column drifts when its PSI crosses the ``[monitor]`` threshold and its test is
significant, or when its missing rate moves by more than the threshold; ``monitor`` then
exits with status 3, for a scheduled job to alert on. Both conditions are needed because
each misleads alone: on a batch of a few dozen rows a PSI over ten bins is noise (its
expected value is about the number of bins over the number of rows), and on a million rows
a test finds a shift too small to matter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from . import figures
from ._exceptions import DataError, Source
from .artifacts import write_json
from .config import MonitorSettings, Settings
from .contract import FloatArray
from .predict import Predictor
from .reference import (
    PREDICTION,
    SMALLEST_SHARE,
    Distribution,
    Kind,
    Reference,
    prediction_values,
    psi,
)
from .schema import DatasetSchema

REPORT_FILE = "drift.json"
FIGURE = "drift.png"


@dataclass(frozen=True)
class ColumnDrift:
    """How one column of the batch differs from the reference."""

    column: str
    kind: Kind
    psi: float
    test: str
    p_value: float | None
    missing_rate: float
    reference_missing_rate: float
    drifted: bool
    reasons: tuple[str, ...] = ()


def column_drift(
    name: str, reference: Distribution, values: pd.Series[Any], thresholds: MonitorSettings
) -> ColumnDrift:
    """Compare one column of the batch with its reference distribution."""
    counts = reference.counts(values)
    index = psi(reference.shares, counts)
    present = values.dropna()
    p_value: float | None = None
    if reference.kind == "numeric":
        test = "kolmogorov-smirnov"
        if len(present) and reference.sample:
            p_value = float(
                stats.ks_2samp(
                    present.to_numpy(dtype="float64"), np.asarray(reference.sample)
                ).pvalue
            )
    else:
        test = "chi-squared"
        if counts.sum():
            expected = np.maximum(np.asarray(reference.shares), SMALLEST_SHARE)
            expected = expected / expected.sum() * counts.sum()
            p_value = float(stats.chisquare(counts, expected).pvalue)
    missing_rate = float(values.isna().mean()) if len(values) else 0.0
    if p_value is not None and math.isnan(p_value):
        p_value = None  # a test without the data for it: the PSI decides alone
    reasons = []
    significant = p_value is None or p_value < thresholds.p_value
    if index >= thresholds.psi and significant:
        tested = "" if p_value is None else f" and p-value < {thresholds.p_value}"
        reasons.append(f"PSI >= {thresholds.psi}{tested}")
    change = missing_rate - reference.missing_rate
    if abs(change) >= thresholds.missing_rate:
        reasons.append(f"missing rate {reference.missing_rate:.3f} -> {missing_rate:.3f}")
    return ColumnDrift(
        name,
        reference.kind,
        index,
        test,
        p_value,
        missing_rate,
        reference.missing_rate,
        bool(reasons),
        tuple(reasons),
    )


@dataclass(frozen=True)
class Drift:
    """The drift of every feature and of the predictions, for one batch."""

    rows: int
    columns: tuple[ColumnDrift, ...]
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def drifted(self) -> tuple[str, ...]:
        """The columns that drifted."""
        return tuple(column.column for column in self.columns if column.drifted)


def drift(
    reference: Reference,
    schema: DatasetSchema,
    rows: pd.DataFrame,
    scores: FloatArray,
    thresholds: MonitorSettings,
) -> Drift:
    """Compare validated rows, and the model's output on them, with the reference.

    Raises:
        DataError: there are no rows.
    """
    if not len(rows):
        raise DataError.one(None, "no rows to compare")
    columns = [
        column_drift(feature.name, reference.columns[feature.name], rows[feature.name], thresholds)
        for feature in schema.features
        if feature.name in reference.columns
    ]
    columns.append(
        column_drift(
            PREDICTION, reference.columns[PREDICTION], prediction_values(schema, scores), thresholds
        )
    )
    return Drift(len(rows), tuple(columns), thresholds.model_dump())


def draw(result: Drift, threshold: float, path: Path) -> Path:
    """Draw each column's PSI as a bar, drifted ones in red, with the threshold."""
    shown = result.columns[::-1]
    figure = Figure(figsize=(7, 1.5 + 0.35 * len(shown)))
    axes = figure.subplots()
    colours = ["tab:red" if column.drifted else "tab:blue" for column in shown]
    axes.barh([column.column for column in shown], [column.psi for column in shown], color=colours)
    axes.axvline(threshold, linestyle=":", color="grey", label=f"threshold ({threshold})")
    axes.set(
        xlabel="population stability index",
        title=f"Drift of {result.rows} rows from the training data",
    )
    axes.legend(loc="lower right")
    return figures.save(figure, path)


def report(
    result: Drift, directory: Path, figures_dir: Path, threshold: float
) -> tuple[Path, Path]:
    """Write the JSON report and the figure of one comparison."""
    document = asdict(result) | {"drifted": list(result.drifted)}
    return write_json(directory / REPORT_FILE, document), draw(
        result, threshold, figures_dir / FIGURE
    )


def monitor(
    settings: Settings, predictor: Predictor, frame: pd.DataFrame, source: Source
) -> tuple[Drift, tuple[Path, Path]]:
    """Compare rows as they come (a file, the API's request log) with the training data.

    Raises:
        ArtifactError: the model, or its reference, is missing or damaged.
        DataError: the rows do not fit the schema.
    """
    reference = Reference.read(settings.paths.models_dir)
    predictions = predictor.predict(frame, source)
    result = drift(
        reference, predictor.schema, predictions.inputs, predictions.scores, settings.monitor
    )
    paths = report(
        result, settings.paths.monitoring_dir, settings.paths.figures_dir, settings.monitor.psi
    )
    return result, paths
