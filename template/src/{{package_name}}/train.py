"""Train the model from the settings: prepare the data, fit, save the model and its record.

``train`` prepares the data if needed, splits the training rows into the rows the model
learns from and the validation rows it stops early on (stratified for a classifier), fits
the preprocessing on the former only, trains, scores the validation rows, and saves the
preprocessing, the model, the reference of the training rows for ``monitor``
(``monitoring.py``) and the run record. They are written to a staging folder beside
``models_dir`` and moved into place only when complete (``publishing.py``), so an
interrupted run never leaves a half-saved model where ``evaluate`` or ``predict`` would load
it, and the previous model survives a failed one.
"""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer

from . import DISTRIBUTION, model, preprocessing
from ._exceptions import TrainingError
from .config import Settings
from .contract import EpochCallback, EpochStats, Model, Spec, Split
from .metrics import Report, classification_report, regression_report, summary
from .prepare import TRAIN_FILE, digests, load_part, prepare, split_rows
from .profiling import timed
from .publishing import publish, staging_folder
from .records import RunRecord, git_state, package_versions
from .reference import Reference
from .schema import DatasetSchema, labels_to_codes
from .scoring import NativeScorer

logger = logging.getLogger(__name__)


def check_epoch(stats: EpochStats) -> None:
    """Refuse an epoch whose losses are not finite.

    Raises:
        TrainingError: a loss is not finite. Early stopping would otherwise keep "the best"
            epoch of a run whose every loss is NaN, and save an untrained model.
    """
    if not (math.isfinite(stats.train_loss) and math.isfinite(stats.validation_loss)):
        raise TrainingError(
            f"epoch {stats.epoch}: the loss is not finite (training {stats.train_loss}, "
            f"validation {stats.validation_loss}): a feature value too large for the model's "
            "arithmetic, or an optimiser that diverges (lower the learning rate)"
        )


def report_epoch(stats: EpochStats) -> None:
    """Check one epoch (``check_epoch``) and log it as a plain line, for terminals and CI."""
    check_epoch(stats)
    logger.info(
        "epoch %d: train loss %.4f, validation loss %.4f",
        stats.epoch,
        stats.train_loss,
        stats.validation_loss,
        extra={"epoch": stats.epoch, "validation_loss": stats.validation_loss},
    )


def as_split(schema: DatasetSchema, preprocessor: ColumnTransformer, rows: pd.DataFrame) -> Split:
    """Encode validated rows for the model: the features, and the target as it needs it."""
    features = preprocessing.transform(preprocessor, rows[list(schema.feature_names)])
    target = schema.target
    if target.task == "classification":
        return Split(features, labels_to_codes(rows[target.name], target.classes))
    return Split(features, rows[target.name].to_numpy(dtype="float64"))


def score(estimator: Model, split: Split, schema: DatasetSchema) -> Report:
    """Score ``estimator`` on ``split`` with the task's metrics."""
    output = estimator.predict(split.features)
    if schema.target.task == "classification":
        return classification_report(split.target.astype("int64"), output, schema.target.classes)
    return regression_report(split.target.astype("float64"), output)


@dataclass(frozen=True)
class Fitted:
    """A trained model with its fitted preprocessing, its history and validation metrics."""

    preprocessor: ColumnTransformer
    estimator: Model
    history: list[EpochStats]
    validation: Report


def train_here(
    settings: Settings, spec: Spec, train: Split, validation: Split, report: EpochCallback
) -> tuple[Model, list[EpochStats]]:
    """Create the model for ``spec`` and train it in this process; return it and its epochs."""
    estimator = model.create(settings, spec)
    logger.info(
        "training a %s on %d rows of %d encoded columns, validating on %d (%s)",
        spec.task,
        len(train),
        spec.n_features,
        len(validation),
        ", ".join(f"{key} {value}" for key, value in estimator.runtime().items()),
    )
    return estimator, estimator.fit(train, validation, report=report)


Trainer = Callable[[Settings, Spec, Split, Split, EpochCallback], tuple[Model, list[EpochStats]]]


@timed(level=logging.DEBUG)
def fit(
    settings: Settings,
    schema: DatasetSchema,
    rows: pd.DataFrame,
    report: EpochCallback = report_epoch,
    trainer: Trainer = train_here,
) -> Fitted:
    """Split ``rows`` for early stopping, fit the preprocessing and the model, score them.

    ``report`` sees every epoch (``tune`` passes one that also prunes hopeless trials);
    ``trainer`` trains the model (``train_here``, or on Ray Train's workers).
    """
    learn, check = split_rows(
        rows, schema, settings.data.validation_fraction, settings.seed, TRAIN_FILE
    )
    preprocessor = preprocessing.build(schema, model.PREPROCESSING)
    preprocessor.fit(rows.iloc[learn][list(schema.feature_names)])
    train_split = as_split(schema, preprocessor, rows.iloc[learn])
    validation_split = as_split(schema, preprocessor, rows.iloc[check])
    spec = Spec(
        schema.target.task,
        n_features=train_split.features.shape[1],
        n_classes=len(schema.target.classes),
    )
    estimator, history = trainer(settings, spec, train_split, validation_split, report)
    return Fitted(preprocessor, estimator, history, score(estimator, validation_split, schema))


def train(settings: Settings, trainer: Trainer = train_here) -> RunRecord:
    """Run one training and return its record (also saved as ``models_dir/run.json``).

    ``trainer`` trains the model: in this process by default (see ``fit``).
    """
    started = datetime.now(UTC)
    clock = time.perf_counter()
    model.seed_everything(settings.seed)
    dataset = prepare(settings)
    rows = load_part(settings, dataset, TRAIN_FILE)
    fitted = fit(settings, dataset.schema, rows, trainer=trainer)
    models_dir = settings.paths.models_dir
    with staging_folder(models_dir) as staging:
        preprocessing.save(fitted.preprocessor, staging)
        fitted.estimator.save(staging)
        scorer = NativeScorer(fitted.preprocessor, fitted.estimator, dataset.schema.feature_names)
        Reference.build(
            dataset.schema, rows, scorer(rows), settings.monitor.bins, settings.seed
        ).write(staging)
        record = RunRecord(
            started_at=started.isoformat(timespec="seconds"),
            duration_seconds=round(time.perf_counter() - clock, 3),
            seed=settings.seed,
            settings=settings.model_dump(mode="json"),
            dataset={
                "source": dataset.source,
                "source_sha256": dataset.source_sha256,
                "sha256": dict(digests(dataset)),
            },
            schema=dataset.schema,
            validation=asdict(fitted.validation),
            history=tuple(fitted.history),
            runtime=fitted.estimator.runtime(),
            git=git_state(Path.cwd()),
            packages=package_versions((DISTRIBUTION, "numpy", "pandas", *model.PACKAGES)),
        )
        record.write(staging)
        publish(staging, models_dir)
    logger.info("saved the model to %s: validation %s", models_dir, summary(fitted.validation))
    return record
