"""Evaluate the saved model on the held-out test set; write metrics as JSON and plots as PNG.

Outputs, under ``reports_dir``:

* ``metrics.json``: accuracy, macro F1, log loss, per-class precision/recall/F1/support and
  the confusion matrix, with the model's training record summary;
* ``figures/confusion_matrix.png``: the confusion matrix;
* ``figures/learning_curve.png``: training and validation loss per epoch (models trained
  in epochs only).
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from . import DISTRIBUTION
from .config import Settings
from .data import IntArray, load_csv
from .metrics import EpochStats, Report, classification_report
from .model import Classifier
from .prepare import INFO_FILE, TEST_FILE, DatasetInfo, changed_files
from .records import RunRecord

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
# PNG metadata without the matplotlib version, so equal results give byte-equal files.
PNG_METADATA = {"Software": None}


@dataclass(frozen=True)
class Evaluation:
    """The test metrics and the files ``evaluate`` wrote."""

    report: Report
    metrics_path: Path
    figures: tuple[Path, ...]


def plot_confusion_matrix(matrix: IntArray, class_names: Sequence[str], path: Path) -> Path:
    """Draw the confusion matrix with counts in each cell; save it as PNG."""
    figure = Figure(figsize=(1.2 * len(class_names) + 3, 1.0 * len(class_names) + 2.5))
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    threshold = matrix.max() / 2
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > threshold else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour)
    positions = list(range(len(class_names)))
    axes.set_xticks(positions, labels=list(class_names), rotation=45, ha="right")
    axes.set_yticks(positions, labels=list(class_names))
    axes.set(xlabel="predicted class", ylabel="true class", title="Confusion matrix (test set)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata=PNG_METADATA)
    return path


def plot_learning_curve(history: Sequence[EpochStats], path: Path) -> Path:
    """Draw training and validation loss per epoch; save it as PNG."""
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    epochs = [stats.epoch for stats in history]
    axes.plot(epochs, [stats.train_loss for stats in history], label="training loss")
    axes.plot(epochs, [stats.validation_loss for stats in history], label="validation loss")
    axes.set(xlabel="epoch", ylabel="cross-entropy", title="Learning curve")
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata=PNG_METADATA)
    return path


def evaluate(settings: Settings) -> Evaluation:
    """Score the saved model on ``test.csv``; write ``metrics.json`` and the figures.

    Refuses (``ValueError``) a model trained on another preparation of the data, and test
    data edited since ``prepare`` wrote it: either would make the metrics meaningless.
    """
    record = RunRecord.read(settings.paths.models_dir)
    classifier = Classifier.load(settings.paths.models_dir)
    dataset = DatasetInfo.read(settings.paths.processed_dir / INFO_FILE)
    if dataset.feature_names != record.feature_names:
        raise ValueError(
            f"the test data has features {list(dataset.feature_names)}, but the model was "
            f"trained on {list(record.feature_names)}: run `{DISTRIBUTION} train` again"
        )
    if record.dataset["sha256"] != dataset.sha256:
        raise ValueError(
            f"the model was trained on other data than {settings.paths.processed_dir} now "
            f"holds (it was prepared again since): run `{DISTRIBUTION} train` again"
        )
    if changed := changed_files(dataset, settings.paths.processed_dir):
        raise ValueError(
            f"{', '.join(changed)} in {settings.paths.processed_dir} changed since it was "
            f"prepared: run `{DISTRIBUTION} prepare --force`, then `{DISTRIBUTION} train`"
        )
    test = load_csv(settings.paths.processed_dir / TEST_FILE, dataset.schema)
    report = classification_report(
        test.labels, classifier.predict_proba(test.features), record.classes
    )
    figures_dir = settings.paths.figures_dir
    figures = [
        plot_confusion_matrix(
            np.asarray(report.confusion_matrix, dtype=np.int64),
            record.classes,
            figures_dir / "confusion_matrix.png",
        )
    ]
    if len(record.history) > 1:
        figures.append(plot_learning_curve(record.history, figures_dir / "learning_curve.png"))
    metrics_path = settings.paths.reports_dir / METRICS_FILE
    document = {
        "test": asdict(report),
        "model": {"trained_at": record.started_at, "seed": record.seed, "runtime": record.runtime},
    }
    metrics_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    logger.info(
        "test accuracy %.4f, macro F1 %.4f, log loss %.4f on %d rows; wrote %s",
        report.accuracy,
        report.macro_f1,
        report.log_loss,
        report.rows,
        metrics_path,
    )
    return Evaluation(report, metrics_path, tuple(figures))
