"""Record training runs in MLflow: parameters, metrics per epoch, the run record and the model.

The tracking store comes from ``tracking.uri``: by default a SQLite file in the project
(``mlflow.db``, ignored by Git), so tracking works with no server; point it at a tracking
server (``http://...``) to share runs. Browse a local store with
``uvx mlflow ui --backend-store-uri sqlite:///mlflow.db``.

The client API is used directly (no ``mlflow.start_run`` global state), so tracking never
leaks between runs in one process.
"""

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from .config import TrackingSettings
from .records import RunRecord

logger = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter value


def flatten(settings: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``section.key`` names with their values as text, MLflow's form of parameters."""
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from flatten(value, f"{name}.")
        else:
            yield name, str(value)[:MAX_PARAM_LENGTH]


class TrackingError(Exception):
    """MLflow could not record a run: the store is unreachable or refused a write."""


def log_run(tracking: TrackingSettings, record: RunRecord, models_dir: Path) -> str:
    """Record a finished training run in MLflow and return the MLflow run id.

    A run that fails half-way is marked ``FAILED`` in MLflow (never left ``RUNNING``), and
    the failure is raised as a ``TrackingError`` that says which store refused.
    """
    try:
        client = MlflowClient(tracking_uri=tracking.uri)
        experiment = client.get_experiment_by_name(tracking.experiment)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(tracking.experiment)
        )
        run_id: str = client.create_run(experiment_id, run_name=record.started_at).info.run_id
    except Exception as error:
        raise TrackingError(f"MLflow store {tracking.uri} refused a new run: {error}") from error
    try:
        _log_record(client, run_id, record, models_dir)
        client.set_terminated(run_id)
    except Exception as error:
        with suppress(Exception):  # the store may be the reason for the failure
            client.set_terminated(run_id, status="FAILED")
        message = f"MLflow run {run_id} in {tracking.uri} is incomplete: {error}"
        raise TrackingError(message) from error
    logger.info("recorded run %s in MLflow (%s)", run_id, tracking.uri)
    return run_id


def _log_record(client: MlflowClient, run_id: str, record: RunRecord, models_dir: Path) -> None:
    """Log the record's parameters, metrics, tags, the record itself and the model files."""
    now = int(time.time() * 1000)
    scores = {
        f"validation_{key}": float(value)
        for key, value in record.validation.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and key != "rows"
    }
    scores["duration_seconds"] = record.duration_seconds
    metrics = [Metric(key, value, now, 0) for key, value in scores.items()]
    for stats in record.history:
        metrics += [
            Metric("epoch_train_loss", stats.train_loss, now, stats.epoch),
            Metric("epoch_validation_loss", stats.validation_loss, now, stats.epoch),
        ]
    tags = {f"runtime.{key}": value for key, value in record.runtime.items()}
    tags |= {"task": record.schema.target.task, "target": record.schema.target.name}
    if record.git is not None:
        tags["mlflow.source.git.commit"] = str(record.git["commit"])
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(key, value) for key, value in flatten(record.settings)],
        tags=[RunTag(key, value) for key, value in tags.items()],
    )
    client.log_dict(run_id, asdict(record), "run.json")
    client.log_artifacts(run_id, str(models_dir), artifact_path="model")
