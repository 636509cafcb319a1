"""Figures of an evaluation, drawn with scikit-learn's displays and saved as PNG.

``evaluation.png`` holds the test-set figures of the task: a classifier's confusion matrix
and the ROC curve of each class against the rest, or a regressor's predicted against actual
values and its residuals. ``learning_curve.png`` holds every model's losses per epoch;
``tune`` draws a study's history and the importance of each tuned setting. The
file names are the same for both tasks, so a pipeline tool (DVC) can list them as outputs.

Figures are drawn on their own ``Figure`` (no pyplot state, no window) and written
atomically; the PNG metadata names no software version, so equal results give equal bytes.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, PredictionErrorDisplay, RocCurveDisplay

from .artifacts import atomic_path
from .contract import EpochStats, FloatArray, IntArray
from .metrics import Direction
from .schema import Label

PNG_METADATA = {"Software": None}
# Points drawn in a regression plot: enough to see the shape, few enough to stay readable.
MAX_POINTS = 2000


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as PNG to ``path``, atomically."""
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", metadata=PNG_METADATA)
    return path


def draw_confusion_matrix(
    axes: Axes, codes: IntArray, predicted: IntArray, classes: Sequence[Label]
) -> None:
    """Draw the confusion matrix (true classes in rows, predicted in columns)."""
    ConfusionMatrixDisplay.from_predictions(
        codes,
        predicted,
        labels=list(range(len(classes))),
        display_labels=[str(label) for label in classes],
        ax=axes,
        cmap="Blues",
        xticks_rotation=45,
        colorbar=False,
    )
    axes.set_title("Confusion matrix (test set)")


def draw_roc_curves(
    axes: Axes, codes: IntArray, probabilities: FloatArray, classes: Sequence[Label]
) -> None:
    """Draw the ROC curve of the positive class, or of each class against the rest.

    A class absent from the rows (or the only one present) has no curve.
    """
    shown = [1] if len(classes) == 2 else range(len(classes))
    for index in shown:
        if (codes == index).any() and (codes != index).any():
            RocCurveDisplay.from_predictions(
                codes == index, probabilities[:, index], name=str(classes[index]), ax=axes
            )
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    axes.set(
        title="ROC curve (test set)", xlabel="false positive rate", ylabel="true positive rate"
    )
    axes.legend(loc="lower right")


def classification_figure(
    codes: IntArray, probabilities: FloatArray, classes: Sequence[Label], path: Path
) -> Path:
    """Draw a classifier's confusion matrix and ROC curves side by side."""
    size = 0.8 * len(classes)
    figure = Figure(figsize=(max(11.0, 2 * size + 6), max(5.0, size + 3)))
    matrix, roc = figure.subplots(1, 2)
    draw_confusion_matrix(matrix, codes, probabilities.argmax(axis=1), classes)
    draw_roc_curves(roc, codes, probabilities, classes)
    return save(figure, path)


def regression_figure(values: FloatArray, predicted: FloatArray, path: Path) -> Path:
    """Draw a regressor's predicted against actual values, and its residuals, side by side."""
    figure = Figure(figsize=(11, 5))
    for axes, kind, title in zip(
        figure.subplots(1, 2),
        ("actual_vs_predicted", "residual_vs_predicted"),
        ("Predicted against actual (test set)", "Residuals (test set)"),
        strict=True,
    ):
        PredictionErrorDisplay.from_predictions(
            values, predicted, kind=kind, ax=axes, subsample=MAX_POINTS, random_state=0
        )
        axes.set_title(title)
    return save(figure, path)


def learning_curve(history: Sequence[EpochStats], path: Path) -> Path:
    """Draw the training and validation loss per epoch, marking the best epoch."""
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    epochs = np.asarray([stats.epoch for stats in history])
    axes.plot(epochs, [stats.train_loss for stats in history], label="training loss")
    axes.plot(epochs, [stats.validation_loss for stats in history], label="validation loss")
    best = min(history, key=lambda stats: stats.validation_loss)
    axes.axvline(best.epoch, linestyle=":", color="grey", label=f"best epoch ({best.epoch})")
    axes.set(xlabel="epoch", ylabel="loss", title="Learning curve")
    axes.legend()
    return save(figure, path)


def tuning_history(
    values: Sequence[tuple[int, float]], metric: str, direction: Direction, path: Path
) -> Path:
    """Draw each completed trial's validation metric and the best one so far."""
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    numbers = [number for number, _ in values]
    scores = np.asarray([value for _, value in values])
    best = (
        np.minimum.accumulate(scores) if direction == "minimize" else np.maximum.accumulate(scores)
    )
    axes.scatter(numbers, scores, label="trial", color="tab:blue")
    axes.step(numbers, best, where="post", label="best so far", color="tab:red")
    axes.set(xlabel="trial", ylabel=f"validation {metric}", title="Optimisation history")
    axes.legend()
    return save(figure, path)


def parameter_importance(importances: Mapping[str, float], path: Path) -> Path:
    """Draw how much of the metric's variation each tuned setting explains (fANOVA)."""
    names = sorted(importances, key=importances.__getitem__)
    figure = Figure(figsize=(7, 1.5 + 0.4 * len(names)))
    axes = figure.subplots()
    axes.barh(names, [importances[name] for name in names], color="tab:blue")
    axes.set(xlabel="importance (share of the variation)", title="Importance of each setting")
    return save(figure, path)
