"""Classification metrics in NumPy, and the per-epoch record of a training run.

The same functions score every model, whatever framework trained it, so numbers from
different projects built on this template compare directly.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .data import FloatArray, IntArray

EPSILON = 1e-15


@dataclass(frozen=True)
class EpochStats:
    """Losses and accuracy after one training epoch (one entry for one-shot fits)."""

    epoch: int
    train_loss: float
    validation_loss: float
    validation_accuracy: float


def _check(labels: IntArray, probabilities: FloatArray) -> None:
    if probabilities.ndim != 2 or probabilities.shape[0] != labels.shape[0]:
        raise ValueError(
            f"probabilities must have shape ({labels.shape[0]}, classes), got {probabilities.shape}"
        )
    if labels.size == 0:
        raise ValueError("cannot score an empty set of rows")
    if labels.min() < 0 or labels.max() >= probabilities.shape[1]:
        raise ValueError(
            f"labels must lie in [0, {probabilities.shape[1]}), got {labels.min()}..{labels.max()}"
        )


def log_loss(labels: IntArray, probabilities: FloatArray) -> float:
    """Mean negative log-likelihood of the true class (cross-entropy), clipped away from 0."""
    _check(labels, probabilities)
    chosen = probabilities[np.arange(labels.shape[0]), labels]
    return float(-np.mean(np.log(np.clip(chosen, EPSILON, 1.0))))


def accuracy(labels: IntArray, predictions: IntArray) -> float:
    """Fraction of rows whose predicted class is the true class."""
    if labels.shape != predictions.shape or labels.size == 0:
        raise ValueError(
            f"need equal, non-empty shapes, got {labels.shape} and {predictions.shape}"
        )
    return float(np.mean(labels == predictions))


def confusion_matrix(labels: IntArray, predictions: IntArray, classes: int) -> IntArray:
    """Counts of (true class, predicted class) pairs: rows are truth, columns predictions."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


@dataclass(frozen=True)
class ClassScores:
    """Precision, recall and F1 of one class, and how many test rows belong to it."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    """Every metric of one evaluation, ready to be written as JSON."""

    rows: int
    accuracy: float
    macro_f1: float
    log_loss: float
    per_class: dict[str, ClassScores]
    confusion_matrix: list[list[int]]


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def classification_report(
    labels: IntArray, probabilities: FloatArray, class_names: Sequence[str]
) -> Report:
    """Score predicted class probabilities against the true labels.

    A class that is never predicted (or never present) gets precision (or recall) 0, as in
    scikit-learn's ``zero_division=0``.
    """
    _check(labels, probabilities)
    if probabilities.shape[1] != len(class_names):
        raise ValueError(f"{len(class_names)} class names for {probabilities.shape[1]} classes")
    predictions = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predictions, len(class_names))
    per_class = {}
    for index, name in enumerate(class_names):
        hits = float(matrix[index, index])
        precision = _ratio(hits, float(matrix[:, index].sum()))
        recall = _ratio(hits, float(matrix[index, :].sum()))
        per_class[name] = ClassScores(
            precision=precision,
            recall=recall,
            f1=_ratio(2 * precision * recall, precision + recall),
            support=int(matrix[index, :].sum()),
        )
    return Report(
        rows=int(labels.shape[0]),
        accuracy=accuracy(labels, predictions),
        macro_f1=float(np.mean([scores.f1 for scores in per_class.values()])),
        log_loss=log_loss(labels, probabilities),
        per_class=per_class,
        confusion_matrix=matrix.tolist(),
    )
