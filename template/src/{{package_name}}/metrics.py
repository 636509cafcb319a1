"""Metrics of a classifier or a regressor, from scikit-learn, in JSON-ready form.

The same functions score every model, whatever framework trained it, so numbers from
different projects built on this template compare directly. A metric that has no value on
the rows at hand is ``None``: ROC AUC when a class is absent, R² of a single row.
"""

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from sklearn import metrics

from .contract import FloatArray, IntArray, Task
from .schema import Label

Direction = Literal["maximize", "minimize"]
# The metric that sums up a model of each task: printed by the commands, tracked by MLflow.
HEADLINE: dict[Task, tuple[str, Direction]] = {
    "classification": ("accuracy", "maximize"),
    "regression": ("rmse", "minimize"),
}
# Every single-number metric of each task's report, and which way is better (``tune.metric``).
DIRECTIONS: dict[Task, dict[str, Direction]] = {
    "classification": {
        "log_loss": "minimize",
        "accuracy": "maximize",
        "balanced_accuracy": "maximize",
        "macro_f1": "maximize",
        "roc_auc": "maximize",
    },
    "regression": {"rmse": "minimize", "mae": "minimize", "r2": "maximize"},
}


@dataclass(frozen=True)
class ClassScores:
    """Precision, recall and F1 of one class, and how many rows belong to it."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationReport:
    """Every metric of one evaluation of a classifier."""

    rows: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    log_loss: float
    roc_auc: float | None
    per_class: dict[str, ClassScores]
    confusion_matrix: list[list[int]]
    task: Literal["classification"] = "classification"


@dataclass(frozen=True)
class RegressionReport:
    """Every metric of one evaluation of a regressor."""

    rows: int
    rmse: float
    mae: float
    r2: float | None
    task: Literal["regression"] = "regression"


Report = ClassificationReport | RegressionReport


def classification_report(
    codes: IntArray, probabilities: FloatArray, classes: Sequence[Label]
) -> ClassificationReport:
    """Score class probabilities against the true class indices.

    A class that is never predicted (or never present) gets precision (or recall) 0, as
    scikit-learn's ``zero_division=0``; ROC AUC (one class against the rest, macro-averaged)
    is ``None`` when the rows lack a class.
    """
    if len(codes) == 0:
        raise ValueError("cannot score an empty set of rows")
    labels = list(range(len(classes)))
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        codes, predicted, labels=labels, zero_division=0
    )
    with warnings.catch_warnings():
        # Over the classes the rows hold; scikit-learn warns when a prediction names another.
        warnings.simplefilter("ignore", UserWarning)
        balanced_accuracy = float(metrics.balanced_accuracy_score(codes, predicted))
    roc_auc = None
    if len(np.unique(codes)) == len(classes):
        scores = probabilities[:, 1] if len(classes) == 2 else probabilities
        roc_auc = float(
            metrics.roc_auc_score(codes, scores, multi_class="ovr", average="macro", labels=labels)
        )
    return ClassificationReport(
        rows=len(codes),
        accuracy=float(metrics.accuracy_score(codes, predicted)),
        balanced_accuracy=balanced_accuracy,
        macro_f1=float(np.mean(f1)),
        log_loss=float(metrics.log_loss(codes, probabilities, labels=labels)),
        roc_auc=roc_auc,
        per_class={
            str(label): ClassScores(float(p), float(r), float(f), int(s))
            for label, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
        },
        confusion_matrix=metrics.confusion_matrix(codes, predicted, labels=labels).tolist(),
    )


def regression_report(values: FloatArray, predicted: FloatArray) -> RegressionReport:
    """Score predicted values against the true ones."""
    if len(values) == 0:
        raise ValueError("cannot score an empty set of rows")
    return RegressionReport(
        rows=len(values),
        rmse=float(metrics.root_mean_squared_error(values, predicted)),
        mae=float(metrics.mean_absolute_error(values, predicted)),
        r2=float(metrics.r2_score(values, predicted)) if len(values) > 1 else None,
    )


def headline(report: Report) -> tuple[str, float]:
    """Return the name and value of the report's headline metric (``HEADLINE``)."""
    name, _ = HEADLINE[report.task]
    value: float = getattr(report, name)
    return name, value


def summary(report: Report | Mapping[str, Any]) -> str:
    """Describe a report (or its JSON form, as a run record keeps it) in one line."""
    values = (
        asdict(report) if isinstance(report, ClassificationReport | RegressionReport) else report
    )
    if values["task"] == "classification":
        return (
            f"accuracy {values['accuracy']:.4f}, balanced accuracy "
            f"{values['balanced_accuracy']:.4f}, macro F1 {values['macro_f1']:.4f} "
            f"on {values['rows']} rows"
        )
    r2 = "n/a" if values["r2"] is None else f"{values['r2']:.4f}"
    return f"RMSE {values['rmse']:.4g}, MAE {values['mae']:.4g}, R2 {r2} on {values['rows']} rows"
