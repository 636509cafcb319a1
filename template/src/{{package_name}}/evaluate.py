"""Evaluate the saved model on the held-out test set; write metrics as JSON and figures as PNG.

Outputs, under ``reports_dir``:

* ``metrics.json``: the test metrics (a classifier's accuracy, balanced accuracy, macro F1,
  log loss, ROC AUC, per-class scores and confusion matrix; a regressor's RMSE, MAE and R²),
  with a summary of the model's training;
* ``figures/evaluation.png``: the confusion matrix and ROC curves (classification), or
  predicted against actual values and the residuals (regression), on the test set;
* ``figures/learning_curve.png``: the training and validation loss per epoch;
* ``explanations.json`` and ``figures/explanations.png``: the permutation importance of
  each feature (``explain.py``);
* ``model_card.md``: the model card (``model_card.py``).
"""

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from . import figures
from ._exceptions import StaleArtifactError
from .artifacts import write_json
from .config import Settings
from .explain import explain_test_rows
from .metrics import Report, classification_report, regression_report, summary
from .model_card import CARD_FILE, write_card
from .predict import Predictor
from .prepare import INFO_FILE, TEST_FILE, DatasetInfo, digests, load_part
from .records import RECORD_FILE
from .schema import labels_to_codes

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
EVALUATION_FIGURE = "evaluation.png"
LEARNING_CURVE = "learning_curve.png"


@dataclass(frozen=True)
class Evaluation:
    """The test metrics and the files ``evaluate`` wrote."""

    report: Report
    metrics_path: Path
    figures: tuple[Path, ...]
    documents: tuple[Path, ...] = ()


def evaluate(settings: Settings) -> Evaluation:
    """Score the saved model on ``test.parquet``; write ``metrics.json`` and the figures.

    Raises:
        ArtifactError: the model, or the prepared data, is missing or damaged; or the model
            was trained on another preparation of the data (its metrics would mean nothing).
        DataError: the test rows no longer fit the schema.
    """
    models_dir, processed = settings.paths.models_dir, settings.paths.processed_dir
    predictor = Predictor.load(models_dir)
    dataset = DatasetInfo.read(processed / INFO_FILE)
    if predictor.record.dataset["sha256"] != dict(digests(dataset)):
        raise StaleArtifactError(
            models_dir / RECORD_FILE,
            f"the model was trained on other data than {processed} now holds (it was "
            "prepared again since)",
            "train",
        )
    rows = load_part(settings, dataset, TEST_FILE)
    output = predictor.scores(rows, processed / TEST_FILE)
    target = predictor.schema.target
    figures_dir = settings.paths.figures_dir
    report: Report
    if target.task == "classification":
        codes = labels_to_codes(rows[target.name], target.classes)
        report = classification_report(codes, output, target.classes)
        drawn = figures.classification_figure(
            codes, output, target.classes, figures_dir / EVALUATION_FIGURE
        )
    else:
        values = rows[target.name].to_numpy(dtype="float64")
        report = regression_report(values, output)
        drawn = figures.regression_figure(values, output, figures_dir / EVALUATION_FIGURE)
    curve = figures.learning_curve(predictor.record.history, figures_dir / LEARNING_CURVE)
    explanation, explained, drawn_importance = explain_test_rows(settings, predictor, rows)
    record = predictor.record
    metrics_path = write_json(
        settings.paths.reports_dir / METRICS_FILE,
        {
            "test": asdict(report),
            "model": {
                "trained_at": record.started_at,
                "seed": record.seed,
                "task": target.task,
                "runtime": record.runtime,
            },
        },
    )
    card = write_card(
        settings.paths.reports_dir / CARD_FILE, record, dataset, asdict(report), explanation
    )
    logger.info("test %s; wrote %s", summary(report), metrics_path)
    return Evaluation(report, metrics_path, (drawn, curve, drawn_importance), (explained, card))
