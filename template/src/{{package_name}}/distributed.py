"""Run on Ray: ``tune --workers N`` on Ray Tune, ``train --workers N`` on Ray Train.

Each command starts a local Ray instance sized by ``--workers`` (one CPU per worker, no
dashboard) and stops it at the end; ``ray.address`` or ``RAY_ADDRESS`` attach to a running
cluster instead (``ray start --head`` on a machine, or KubeRay: ``deploy/ray``). Ray's
usage statistics, on by default, are switched off here before Ray is imported, unless
``RAY_USAGE_STATS_ENABLED`` is already set (``1`` switches them back on). Ray's hook for
``uv run``, which would copy the working folder to every worker and run each in a new uv
environment, is switched off as well: the workers of a local instance run in this
project's own environment, those of a cluster in its image.

Tuning on Ray keeps the study of ``tune.py``: Optuna suggests each trial's values from the
same SQLite study, Ray runs up to N trials at a time, and each ended trial is told to the
study, so trial records, ``best.toml`` and resuming work as in one process. Models trained
epoch by epoch report each epoch to Ray Tune's ASHA scheduler, which stops the trials that
fall behind (in one process, Optuna's median pruner does).

Training on Ray (PyTorch: ``model.DATA_PARALLEL``) starts N workers in one
``torch.distributed`` process group (gloo on CPUs, NCCL on GPUs); the model then trains
with ``DistributedDataParallel``, each worker on its own shard of the encoded training rows
(``model.py``). The
preprocessing is fitted here, once, before the workers start. The first worker hands the
best epoch's weights back as a Ray checkpoint, which this process loads, so ``train``
saves, records and publishes the model as it does for one process. With N workers a step
averages N batches: the effective batch is N times ``train.batch_size``. Gradient boosting,
the NumPy baseline and Keras (whose ``fit`` fails under TensorFlow's multi-worker strategy,
keras-team/keras#20585) train on one worker: for them, ``tune --workers`` is what runs in
parallel.
"""

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
# Ray Tune's progress tables repeat what the package logs of each trial.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna
import ray
from optuna.trial import TrialState
from ray import train as ray_train
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher

from . import model
from ._exceptions import ConfigError, TrainingError
from .config import RaySettings, Settings
from .contract import EpochCallback, EpochStats, Model, Spec, Split
from .distributions import suggest
from .train import Trainer, check_epoch
from .tune import PRUNE_AFTER_EPOCHS, Ended, Runner, Search, evaluate_params, storage_url

logger = logging.getLogger(__name__)

# ASHA's horizon, in epochs: the most any training runs (``train.epochs`` at most 1,000,000).
MAX_EPOCHS = 1_000_001


@contextmanager
def session(settings: RaySettings, workers: int) -> Iterator[None]:
    """Connect to Ray for the block: a cluster if one is named, else a new local instance.

    A Ray instance that is already running in this process (a test's) is used as it is.
    """
    if ray.is_initialized():
        yield
        return
    address = settings.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    else:
        ray.init(
            num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
    try:
        yield
    finally:
        ray.shutdown()


@contextmanager
def storage(settings: RaySettings) -> Iterator[str]:
    """Yield where Ray keeps the workers' results: ``ray.storage``, else a temporary folder."""
    if settings.storage:
        yield settings.storage
        return
    with tempfile.TemporaryDirectory(prefix="ray-") as directory:
        yield directory


class StudySearcher(Searcher):
    """Ray Tune's searcher for a study of ``tune.py``: Optuna suggests, Ray runs, the study keeps.

    Each trial is asked of the study and told back when it ends (Optuna's ask-and-tell
    interface), so the study in SQLite stays the one record of the search.
    """

    def __init__(
        self,
        study: optuna.Study,
        search: Search,
        ended: Ended,
    ) -> None:
        """Search ``study`` for ``search``; call ``ended`` with each trial that ends."""
        mode = "min" if search.objective.direction == "minimize" else "max"
        super().__init__(metric="objective", mode=mode)
        self.study = study
        self.search = search
        self.ended = ended
        self.running: dict[str, optuna.Trial] = {}

    def suggest(self, trial_id: str) -> dict[str, Any]:
        """Ask the study for a new trial; return its values as Ray's trial configuration."""
        trial = self.study.ask()
        self.running[trial_id] = trial
        space = self.search.settings.tune.space
        return {name: suggest(trial, name, distribution) for name, distribution in space.items()}

    def save(self, checkpoint_path: str) -> None:
        """Save where the study is (Ray Tune's experiment state): the study holds the rest."""
        state = {"study": self.study.study_name, "storage": storage_url(self.search.settings)}
        Path(checkpoint_path).write_text(json.dumps(state), encoding="utf-8")

    def restore(self, checkpoint_path: str) -> None:
        """Load the study that ``save`` named."""
        state = json.loads(Path(checkpoint_path).read_text(encoding="utf-8"))
        self.study = optuna.load_study(study_name=state["study"], storage=state["storage"])

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Pass an epoch's reported value on to the study, as an intermediate value."""
        self.running[trial_id].report(result["objective"], result["training_iteration"])

    def on_trial_complete(
        self,
        trial_id: str,
        result: dict[str, Any] | None = None,
        error: bool = False,  # noqa: FBT001, FBT002 - Ray's signature
    ) -> None:
        """Tell the study how the trial ended: complete, pruned by ASHA, or failed."""
        trial = self.running.pop(trial_id)
        state, value = TrialState.FAIL, None
        if not error:
            state = TrialState.PRUNED
        if not error and result is not None and "value" in result:
            state, value = TrialState.COMPLETE, float(result["value"])
            trial.set_user_attr("validation", json.loads(result["validation"]))
            trial.set_user_attr("history", json.loads(result["history"]))
        self.ended(self.study, self.study.tell(trial, value, state=state))


def run_trial(config: dict[str, Any], search: Search) -> None:
    """Train one trial on a Ray worker; report each epoch, then the validation metric."""
    history: list[EpochStats] = []

    def report(stats: EpochStats) -> None:
        check_epoch(stats)
        history.append(stats)
        if model.EPOCH_TRAINED:
            tune.report({"objective": search.objective.intermediate(stats)})

    fitted = evaluate_params(search, config, report)
    best = min(history, key=lambda stats: stats.validation_loss)
    tune.report(
        {
            "objective": search.objective.intermediate(best),
            "value": search.objective.value(fitted.validation),
            # As JSON text: Ray Tune flattens the nested values of a result.
            "validation": json.dumps(asdict(fitted.validation)),
            "history": json.dumps([asdict(stats) for stats in history]),
        }
    )


def tune_on_ray(settings: RaySettings, workers: int) -> Runner:
    """A ``tune`` runner that runs up to ``workers`` trials at a time on Ray Tune."""

    def run(
        study: optuna.Study,
        search: Search,
        count: int,
        timeout: float | None,
        ended: Ended,
    ) -> None:
        searcher = StudySearcher(study, search, ended)
        scheduler: TrialScheduler = FIFOScheduler()  # type: ignore[no-untyped-call]
        if model.EPOCH_TRAINED:
            scheduler = ASHAScheduler(
                metric=searcher.metric,
                mode=searcher.mode,
                max_t=MAX_EPOCHS,
                grace_period=PRUNE_AFTER_EPOCHS,
            )
        trainable = tune.with_resources(tune.with_parameters(run_trial, search=search), {"cpu": 1})
        with session(settings, workers), storage(settings) as path:
            results = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=ConcurrencyLimiter(searcher, max_concurrent=workers),
                    scheduler=scheduler,
                    num_samples=count,
                    time_budget_s=timeout,
                    # A new trial runs in the process of an ended one: no start-up, no imports.
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(name=study.study_name, storage_path=path, verbose=0),
            ).fit()
        for error in results.errors:
            logger.warning("a trial failed on Ray: %s", error)

    return run


def worker_loop(config: dict[str, Any]) -> None:
    """Train on one Ray Train worker; the first worker reports the weights as a checkpoint."""
    settings: Settings = config["settings"]
    model.seed_everything(settings.seed)
    estimator = model.create(settings, config["spec"])
    history = estimator.fit(config["train"], config["validation"], report=check_epoch)
    metrics = {"history": json.dumps([asdict(stats) for stats in history])}
    if ray_train.get_context().get_world_rank() != 0:
        ray_train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as directory:
        estimator.save(Path(directory))
        ray_train.report(metrics, checkpoint=ray_train.Checkpoint.from_directory(directory))


def data_parallel_trainer(
    config: dict[str, Any], workers: int, path: str
) -> ray_train.base_trainer.BaseTrainer:
    """Ray Train's PyTorch trainer with ``workers`` workers (on GPUs, if the cluster has them)."""
    from ray.train.torch import TorchConfig, TorchTrainer  # noqa: PLC0415 - imports torch

    gpu = ray.cluster_resources().get("GPU", 0) >= workers  # type: ignore[no-untyped-call]
    return TorchTrainer(
        worker_loop,
        train_loop_config=config,
        torch_config=TorchConfig(backend="nccl" if gpu else "gloo"),
        scaling_config=ray_train.ScalingConfig(num_workers=workers, use_gpu=gpu),
        run_config=ray_train.RunConfig(name="train", storage_path=path),
    )


def train_on_ray(settings: RaySettings, workers: int) -> Trainer:
    """A ``train`` trainer that trains on ``workers`` Ray Train workers.

    Raises:
        ConfigError: the framework trains on one worker only.
    """
    if not model.DATA_PARALLEL:
        raise ConfigError(
            f"train --workers {workers}: this model trains on one worker; "
            f"`tune --workers {workers}` runs trials in parallel"
        )

    def trainer(
        settings_: Settings, spec: Spec, train: Split, validation: Split, report: EpochCallback
    ) -> tuple[Model, list[EpochStats]]:
        config = {"settings": settings_, "spec": spec, "train": train, "validation": validation}
        with session(settings, workers), storage(settings) as path:
            try:
                result = data_parallel_trainer(config, workers, path).fit()
            except ray_train.TrainingFailedError as error:
                raise TrainingError(f"training on {workers} Ray workers failed: {error}") from None
            if result.checkpoint is None or not result.metrics:
                raise TrainingError("Ray Train ended without the trained weights")
            with result.checkpoint.as_directory() as directory:
                estimator = model.load(Path(directory))
        history = [EpochStats(**stats) for stats in json.loads(result.metrics["history"])]
        for stats in history:
            report(stats)
        return estimator, history

    return trainer
