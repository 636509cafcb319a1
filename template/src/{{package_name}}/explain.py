"""Explain the model: how much its test-set performance depends on each feature.

Permutation importance, by scikit-learn's ``permutation_importance``: one feature's values
are shuffled among the test rows (``explain.repeats`` times, with the seed) and how much
the task's headline metric worsens (accuracy falls, RMSE rises) is that feature's
importance. It works on any model, whatever its framework, and on the table's own
columns: shuffling a category shuffles all of its encoded columns at once, so each
feature gets one number.

``explain`` writes ``reports/explanations.json`` (each feature's mean importance and its
spread over the repeats, most important first) and ``reports/figures/explanations.png``.
"""

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.base import BaseEstimator
from sklearn.inspection import permutation_importance
from sklearn.metrics import get_scorer

from . import figures
from .artifacts import write_json
from .config import Settings
from .contract import FloatArray
from .metrics import HEADLINE
from .predict import Predictor
from .prepare import INFO_FILE, TEST_FILE, DatasetInfo, load_part
from .schema import labels_to_codes

logger = logging.getLogger(__name__)

EXPLANATIONS_FILE = "explanations.json"
FIGURE = "explanations.png"
# scikit-learn's name of each task's headline metric, as a score (greater is better).
SCORING = {"classification": "accuracy", "regression": "neg_root_mean_squared_error"}
HEADLINE_DIRECTIONS = dict(HEADLINE.values())


class PredictorEstimator(BaseEstimator):  # type: ignore[misc] # scikit-learn is untyped
    """The saved model as a scikit-learn estimator, on validated rows.

    The scorers of ``SCORING`` (accuracy, RMSE) call ``predict`` alone, so the estimator
    needs no classes or tags; ``permutation_importance`` requires a ``fit`` all the same.
    """

    def __init__(self, predictor: Predictor) -> None:
        """Wrap a loaded predictor; there is nothing to fit."""
        self.predictor = predictor

    def fit(self, features: pd.DataFrame, target: Any) -> Self:  # noqa: ANN401
        """Do nothing: the model is trained."""
        del features, target
        return self

    def predict(self, features: pd.DataFrame) -> FloatArray:
        """Return class indices, or values."""
        output = self.predictor.scores(features, "rows")
        if self.predictor.schema.target.task == "classification":
            classes: FloatArray = output.argmax(axis=1).astype(np.float64)
            return classes
        return output


@dataclass(frozen=True)
class Importance:
    """How much the headline metric falls when one feature is shuffled."""

    feature: str
    mean: float
    std: float


@dataclass(frozen=True)
class Explanation:
    """The importance of every feature, most important first."""

    metric: str
    baseline: float
    rows: int
    repeats: int
    importances: tuple[Importance, ...]


def explain_rows(predictor: Predictor, rows: pd.DataFrame, repeats: int, seed: int) -> Explanation:
    """Compute the permutation importance of each feature on validated rows with a target."""
    schema = predictor.schema
    target = schema.target
    truth: Any
    if target.task == "classification":
        truth = labels_to_codes(rows[target.name], target.classes).astype(np.float64)
    else:
        truth = rows[target.name].to_numpy(dtype="float64")
    features = rows[list(schema.feature_names)]
    result = permutation_importance(
        PredictorEstimator(predictor),
        features,
        truth,
        scoring=SCORING[target.task],
        n_repeats=repeats,
        random_state=seed,
    )
    name, direction = HEADLINE[target.task]
    score = float(get_scorer(SCORING[target.task])(PredictorEstimator(predictor), features, truth))
    baseline = score if direction == "maximize" else -score
    importances = sorted(
        (
            Importance(feature, float(mean), float(std))
            for feature, mean, std in zip(
                schema.feature_names, result.importances_mean, result.importances_std, strict=True
            )
        ),
        key=lambda importance: (-importance.mean, importance.feature),
    )
    return Explanation(name, baseline, len(rows), repeats, tuple(importances))


def draw(explanation: Explanation, path: Path) -> Path:
    """Draw the importances as horizontal bars with their spread, most important on top."""
    shown = explanation.importances[::-1]
    figure = Figure(figsize=(7, 1.5 + 0.35 * len(shown)))
    axes = figure.subplots()
    axes.barh(
        [importance.feature for importance in shown],
        [importance.mean for importance in shown],
        xerr=[importance.std for importance in shown],
        color="tab:blue",
    )
    axes.axvline(0, color="grey", linewidth=0.8)
    change = "fall" if HEADLINE_DIRECTIONS[explanation.metric] == "maximize" else "rise"
    axes.set(
        xlabel=f"{change} of {explanation.metric} when the feature is shuffled",
        title=f"Permutation importance ({explanation.rows} test rows, {explanation.repeats} repeats)",
    )
    return figures.save(figure, path)


def explain_test_rows(
    settings: Settings, predictor: Predictor, rows: pd.DataFrame
) -> tuple[Explanation, Path, Path]:
    """Explain the model on test rows; write the JSON report and the figure.

    At most ``explain.max_rows`` rows are used, drawn with the seed: ``explain`` and
    ``evaluate`` both call this, so they write the same explanations.
    """
    if len(rows) > settings.explain.max_rows:
        rows = rows.sample(n=settings.explain.max_rows, random_state=settings.seed)
    explanation = explain_rows(predictor, rows, settings.explain.repeats, settings.seed)
    report = write_json(settings.paths.reports_dir / EXPLANATIONS_FILE, asdict(explanation))
    figure = draw(explanation, settings.paths.figures_dir / FIGURE)
    return explanation, report, figure


def explain(settings: Settings) -> tuple[Explanation, Path, Path]:
    """Explain the saved model on the test set; write the JSON report and the figure.

    Raises:
        ArtifactError: there is no trained model, or the prepared data changed since.
    """
    predictor = Predictor.load(settings.paths.models_dir)
    dataset = DatasetInfo.read(settings.paths.processed_dir / INFO_FILE)
    rows = load_part(settings, dataset, TEST_FILE)
    explanation, report, figure = explain_test_rows(settings, predictor, rows)
    top = ", ".join(f"{i.feature} {i.mean:.3g}" for i in explanation.importances[:3])
    logger.info("permutation importance (change of %s): %s", explanation.metric, top)
    return explanation, report, figure
