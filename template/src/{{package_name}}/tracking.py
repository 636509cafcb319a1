"""Record training runs in MLflow: parameters, metrics per epoch, the run record and the model.

The tracking store comes from ``tracking.uri``: by default a SQLite file in the project
(``mlflow.db``, ignored by Git), so tracking works with no server; point it at a tracking
server (``http://...``) to share runs. Browse a local store with
``uvx mlflow ui --backend-store-uri sqlite:///mlflow.db``.

The client API is used directly (no ``mlflow.start_run`` global state), so tracking never
leaks between runs in one process. MLflow sends usage telemetry to its maintainers from the
moment it is imported, unless told not to: it is told here, before the import, unless
``MLFLOW_DISABLE_TELEMETRY`` is already set (``false`` switches it back on).
"""

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Self

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ._exceptions import MissingArtifactError, ProjectError
from .artifacts import read_json, write_json
from .config import TrackingSettings
from .contract import Task
from .metrics import HEADLINE, Report
from .records import RunRecord, TrialRecord

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


class TrackingError(ProjectError):
    """MLflow could not record a run: the store is unreachable or refused a write."""


def new_run(
    tracking: TrackingSettings, name: str, tags: Mapping[str, str] | None = None
) -> tuple[MlflowClient, str]:
    """Start a run named ``name`` in the experiment (created if new); return its id.

    Raises:
        TrackingError: the store cannot be reached or refused the run.
    """
    try:
        client = MlflowClient(tracking_uri=tracking.uri)
        experiment = client.get_experiment_by_name(tracking.experiment)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(tracking.experiment)
        )
        run_id: str = client.create_run(
            experiment_id, run_name=name, tags=dict(tags or {})
        ).info.run_id
    except Exception as error:
        raise TrackingError(f"MLflow store {tracking.uri} refused a new run: {error}") from error
    return client, run_id


def log_run(tracking: TrackingSettings, record: RunRecord, models_dir: Path) -> str:
    """Record a finished training run in MLflow and return the MLflow run id.

    A run that fails half-way is marked ``FAILED`` in MLflow (never left ``RUNNING``), and
    the failure is raised as a ``TrackingError`` that says which store refused.
    """
    client, run_id = new_run(tracking, record.started_at)
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


TRACKING_FILE = "tracking.json"
MODEL_URI_FORMS = "models:/<name>@<alias> or models:/<name>/<version>"
TEST_TAG = "test.{metric}"


@dataclass(frozen=True)
class Registered:
    """Where a trained model is in MLflow: its run, and its version of the registered model."""

    run_id: str
    model: str
    version: str

    @classmethod
    def read(cls, models_dir: Path) -> Self:
        """Read what ``register`` saved beside the model.

        Raises:
            MissingArtifactError: the model was not recorded in MLflow (run ``train``).
        """
        data = read_json(models_dir / TRACKING_FILE, "train")
        try:
            return cls(str(data["run_id"]), str(data["model"]), str(data["version"]))
        except (KeyError, TypeError) as error:
            raise MissingArtifactError(
                models_dir / TRACKING_FILE, f"damaged ({error})", "train"
            ) from None


def register(tracking: TrackingSettings, run_id: str, models_dir: Path) -> Registered:
    """Add the run's model folder as a new version of ``tracking.registered_model``.

    The version and its run are saved beside the model (``tracking.json``), for ``evaluate``
    to tag the version with its test metrics and for ``promote``.

    Raises:
        TrackingError: the store refused.
    """
    client = MlflowClient(tracking_uri=tracking.uri)
    name = tracking.registered_model
    try:
        if not client.search_registered_models(filter_string=f"name = '{name}'"):
            client.create_registered_model(name)
        source = f"{client.get_run(run_id).info.artifact_uri}/model"
        version = client.create_model_version(name, source, run_id=run_id).version
    except Exception as error:
        raise TrackingError(
            f"MLflow store {tracking.uri} refused a model version: {error}"
        ) from error
    registered = Registered(run_id, name, str(version))
    write_json(models_dir / TRACKING_FILE, asdict(registered))
    logger.info("registered %s version %s", name, version)
    return registered


def log_evaluation(tracking: TrackingSettings, models_dir: Path, report: Report) -> Registered:
    """Log the test metrics to the model's run and tag its version with them.

    Raises:
        MissingArtifactError: the model was not recorded in MLflow.
        TrackingError: the store refused.
    """
    registered = Registered.read(models_dir)
    client = MlflowClient(tracking_uri=tracking.uri)
    now = int(time.time() * 1000)
    values = {
        key: float(value)
        for key, value in asdict(report).items()
        if isinstance(value, int | float) and not isinstance(value, bool) and key != "rows"
    }
    try:
        client.log_batch(
            registered.run_id,
            metrics=[Metric(f"test_{key}", value, now, 0) for key, value in values.items()],
        )
        for key, value in values.items():
            client.set_model_version_tag(
                registered.model, registered.version, TEST_TAG.format(metric=key), str(value)
            )
    except Exception as error:
        raise TrackingError(
            f"MLflow store {tracking.uri} refused the test metrics: {error}"
        ) from error
    return registered


def log_export(tracking: TrackingSettings, models_dir: Path, files: Sequence[Path]) -> Registered:
    """Add exported files (``model.onnx``...) to the model folder of the model's version.

    ``serve --model models:/<name>@<alias> --runtime onnx`` then finds the graph.

    Raises:
        MissingArtifactError: the model was not recorded in MLflow.
        TrackingError: the store refused.
    """
    registered = Registered.read(models_dir)
    client = MlflowClient(tracking_uri=tracking.uri)
    try:
        for path in files:
            client.log_artifact(registered.run_id, str(path), artifact_path="model")
    except Exception as error:
        raise TrackingError(f"MLflow store {tracking.uri} refused the export: {error}") from error
    return registered


@dataclass(frozen=True)
class Promotion:
    """The outcome of ``promote``: the candidate, the alias's holder before, and the numbers."""

    alias: str
    metric: str
    candidate: str
    candidate_value: float
    champion: str | None
    champion_value: float | None
    promoted: bool


def _test_value(client: MlflowClient, name: str, version: str, metric: str) -> float:
    tags = client.get_model_version(name, version).tags
    key = TEST_TAG.format(metric=metric)
    if key not in tags:
        raise TrackingError(
            f"version {version} of {name} has no test {metric}: run evaluate on it first"
        )
    return float(tags[key])


def champion(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version that holds ``alias``, or None while no version does."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as error:
        # An alias no version holds is an invalid parameter to MLflow, not a missing one.
        if error.error_code == "INVALID_PARAMETER_VALUE" and alias in str(error):
            return None
        raise


def promote(
    tracking: TrackingSettings, models_dir: Path, version: str | None, task: Task, *, force: bool
) -> Promotion:
    """Move ``tracking.alias`` to a version whose test metric beats the alias's holder.

    The candidate is ``version``, else the version of the model in ``models_dir``. Without a
    holder, or with ``force``, the candidate takes the alias whatever its numbers.

    Raises:
        TrackingError: the store refused, or a version has no test metrics.
    """
    name = tracking.registered_model
    candidate = version or Registered.read(models_dir).version
    metric, direction = HEADLINE[task]
    client = MlflowClient(tracking_uri=tracking.uri)
    try:
        value = _test_value(client, name, candidate, metric)
        holder = champion(client, name, tracking.alias)
        held = None if holder is None else _test_value(client, name, holder, metric)
        better = held is None or (value > held if direction == "maximize" else value < held)
        promoted = force or (better and holder != candidate)
        if promoted:
            client.set_registered_model_alias(name, tracking.alias, candidate)
    except TrackingError:
        raise
    except Exception as error:
        raise TrackingError(f"MLflow store {tracking.uri} refused: {error}") from error
    return Promotion(tracking.alias, metric, candidate, value, holder, held, promoted)


def download(tracking: TrackingSettings, uri: str, destination: Path) -> Path:
    """Download the model folder of a registered version into ``destination``; return it.

    ``uri`` is one of ``MODEL_URI_FORMS``.

    Raises:
        TrackingError: the URI names no version, or the store refused.
    """
    client = MlflowClient(tracking_uri=tracking.uri)
    reference = uri.removeprefix("models:/")
    # Read as MLflow reads these URIs: a name holds no "/" but may hold "@"; an alias holds
    # neither.
    if "/" in reference:
        name, number = reference.rsplit("/", 1)
        lookup = partial(client.get_model_version, name, number)
    elif "@" in reference:
        name, alias = reference.rsplit("@", 1)
        lookup = partial(client.get_model_version_by_alias, name, alias)
    else:
        raise TrackingError(f"{uri} names no version: write {MODEL_URI_FORMS}")
    try:
        version = lookup()
    except Exception as error:
        raise TrackingError(f"{tracking.uri} has no model {uri}: {error}") from error
    if version.run_id is None:
        raise TrackingError(f"{uri} has no run to download the model from")
    try:
        folder = client.download_artifacts(version.run_id, "model", str(destination))
    except Exception as error:
        raise TrackingError(f"cannot fetch {uri} from {tracking.uri}: {error}") from error
    return Path(folder)


def _log_trial(client: MlflowClient, run_id: str, record: TrialRecord) -> None:
    """Log a trial's parameters, validation metrics and losses per epoch, and end its run."""
    now = int(time.time() * 1000)
    scores = {
        f"validation_{key}": float(value)
        for key, value in (record.validation or {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool) and key != "rows"
    }
    metrics = [Metric(key, value, now, 0) for key, value in scores.items()]
    for epoch in record.history:
        step = int(epoch["epoch"])
        metrics += [
            Metric(f"epoch_{key}", value, now, step)
            for key, value in epoch.items()
            if key != "epoch"
        ]
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(key, str(value)[:MAX_PARAM_LENGTH]) for key, value in record.params.items()],
        tags=[RunTag("tune.state", record.state)],
    )
    client.set_terminated(run_id, status="FINISHED" if record.state == "complete" else "KILLED")


@contextmanager
def tuning_run(tracking: TrackingSettings, study: str) -> Iterator[Callable[[TrialRecord], None]]:
    """Open a parent run for a ``tune`` study; yield a callback that logs each trial under it.

    Each trial becomes a nested run (MLflow's ``mlflow.parentRunId`` tag), finished when it
    completed and killed when it was pruned or failed. The parent ends ``FAILED`` if the
    study stops with an error, ``KILLED`` if it is interrupted.
    """
    client, parent = new_run(tracking, f"tune {study}", {"tune.study": study})
    experiment_id = client.get_run(parent).info.experiment_id

    def log_trial(record: TrialRecord) -> None:
        try:
            run_id = client.create_run(
                experiment_id,
                run_name=f"{study} trial {record.number}",
                tags={"mlflow.parentRunId": parent, "tune.study": study},
            ).info.run_id
            _log_trial(client, run_id, record)
        except Exception as error:
            message = f"MLflow store {tracking.uri} refused trial {record.number}: {error}"
            raise TrackingError(message) from error

    status = "FAILED"
    try:
        yield log_trial
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        with suppress(Exception):  # the store may be the reason for the failure
            client.set_terminated(parent, status=status)
