"""Train the model from the settings: seed, prepare data, fit, save the model and its record.

The model and its run record are written to a temporary folder beside ``models_dir`` and
moved into place only when complete, so an interrupted run never leaves a half-saved model
where ``evaluate`` or ``predict`` would load it.
"""

import logging
import math
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from . import DISTRIBUTION, model
from .config import Settings
from .data import load_csv, train_test_split
from .metrics import EpochStats, classification_report
from .prepare import TRAIN_FILE, prepare
from .records import RECORD_FILE, RunRecord, git_state, package_versions

logger = logging.getLogger(__name__)


def report_epoch(stats: EpochStats) -> None:
    """Report one epoch as a plain log line (readable on a terminal and in CI logs alike).

    Raises:
        ValueError: a loss is not finite. Early stopping would otherwise keep "the best"
            epoch of a run whose every loss is NaN, and save an untrained model.
    """
    if not (math.isfinite(stats.train_loss) and math.isfinite(stats.validation_loss)):
        raise ValueError(
            f"epoch {stats.epoch}: the loss is not finite (training {stats.train_loss}, "
            f"validation {stats.validation_loss}): a feature value too large for the model's "
            "arithmetic, or an optimiser that diverges (lower the learning rate)"
        )
    logger.info(
        "epoch %d: train loss %.4f, validation loss %.4f, validation accuracy %.4f",
        stats.epoch,
        stats.train_loss,
        stats.validation_loss,
        stats.validation_accuracy,
        extra={"epoch": stats.epoch, "validation_loss": stats.validation_loss},
    )


def publish(staging: Path, destination: Path) -> None:
    """Move the model files of ``staging`` into ``destination``, the run record last.

    ``destination`` may be a mounted volume, so it is filled file by file (each move atomic)
    rather than swapped whole. The record is what marks a model as present: the old one is
    removed first and the new one moved in last, so a run stopped half-way leaves either the
    complete new model or no record at all (``train again``), never a record beside another
    run's weights.
    """
    destination.mkdir(parents=True, exist_ok=True)
    (destination / RECORD_FILE).unlink(missing_ok=True)
    for path in sorted(staging.iterdir()):
        if path.name != RECORD_FILE:
            path.replace(destination / path.name)
    (staging / RECORD_FILE).replace(destination / RECORD_FILE)


def train(settings: Settings) -> RunRecord:
    """Run one training and return its record (also saved as ``models_dir/run.json``)."""
    started = datetime.now(UTC)
    clock = time.perf_counter()
    model.seed_everything(settings.seed)
    dataset = prepare(settings)
    table = load_csv(settings.paths.processed_dir / TRAIN_FILE, dataset.schema)
    fit_rows, validation = train_test_split(
        table, test_fraction=settings.data.validation_fraction, seed=settings.seed
    )
    classifier = model.Classifier.create(
        settings, n_features=len(dataset.feature_names), n_classes=len(dataset.classes)
    )
    logger.info(
        "training on %d rows, validating on %d (%s)",
        len(fit_rows),
        len(validation),
        ", ".join(f"{key} {value}" for key, value in classifier.runtime().items()),
    )
    history = classifier.fit(fit_rows, validation, on_epoch=report_epoch)
    report = classification_report(
        validation.labels, classifier.predict_proba(validation.features), dataset.classes
    )
    models_dir = settings.paths.models_dir
    models_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".training-", dir=models_dir.parent))
    try:
        classifier.save(staging)
        record = RunRecord(
            started_at=started.isoformat(timespec="seconds"),
            duration_seconds=round(time.perf_counter() - clock, 3),
            seed=settings.seed,
            settings=settings.model_dump(mode="json"),
            dataset={"source": dataset.source, "sha256": dataset.sha256},
            feature_names=dataset.feature_names,
            classes=dataset.classes,
            validation=report,
            history=tuple(history),
            runtime=classifier.runtime(),
            git=git_state(Path.cwd()),
            packages=package_versions((DISTRIBUTION, "numpy", *model.PACKAGES)),
        )
        record.write(staging)
        publish(staging, models_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info(
        "saved the model to %s: validation accuracy %.4f, macro F1 %.4f",
        models_dir,
        report.accuracy,
        report.macro_f1,
    )
    return record
