"""Tune the model's settings with Optuna: search ``[tune.space]``, keep the best trial.

Each trial trains on the training rows exactly as ``train`` does (the same validation
split, the same seed) with the trial's values of the model and training settings, and
scores the validation rows. The objective is ``tune.metric``, by default the validation log
loss of a classifier or the RMSE of a regressor. Models trained epoch by epoch
(``model.EPOCH_TRAINED``) report their validation loss after each epoch, and Optuna's median
pruner stops a trial that falls behind the trials before it at the same epoch.

A study lives in an SQLite file, ``reports/tuning/studies.db``, so an interrupted ``tune``
resumes: the next run counts the trials that ended (complete or pruned) and runs only those
that ``tune.trials`` still asks for. A study remembers what it searched (the metric, the
space, the data and the settings it does not tune) and refuses to continue with others.

Each ended trial gets a record, ``reports/tuning/<study>/trial-<number>.json``. At the end,
``reports/tuning/best.toml`` holds the complete settings of the best trial
(``train --config reports/tuning/best.toml`` trains that model again) and two figures show
the optimisation history and the importance of each tuned setting.
"""

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import optuna
import pandas as pd
import tomli_w
from optuna.trial import FrozenTrial, TrialState
from pydantic import JsonValue, ValidationError

from . import DISTRIBUTION, model
from ._exceptions import ConfigError, TrainingError
from .artifacts import write_json, write_text
from .config import TUNABLE_SECTIONS, Settings, TuneSettings
from .contract import EpochCallback, EpochStats, Task
from .distributions import Choice, suggest
from .figures import parameter_importance, tuning_history
from .metrics import DIRECTIONS, Direction, Report
from .prepare import TRAIN_FILE, digests, load_part, prepare
from .records import TrialRecord
from .schema import DatasetSchema
from .train import Fitted, check_epoch, fit

logger = logging.getLogger(__name__)

STUDIES_FILE = "studies.db"
BEST_FILE = "best.toml"
HISTORY_FIGURE = "history.png"
IMPORTANCE_FIGURE = "importance.png"
DEFAULT_METRIC: dict[Task, str] = {"classification": "log_loss", "regression": "rmse"}
# The median pruner judges a trial only after this many epochs, and only once this many
# trials have ended: early epochs and the first trials say little about what is hopeless.
PRUNE_AFTER_EPOCHS = 5
PRUNE_AFTER_TRIALS = 5
ENDED = (TrialState.COMPLETE, TrialState.PRUNED)

Params = dict[str, JsonValue]
TrialCallback = Callable[[TrialRecord], None]
# What a runner calls with each trial that ends, so that ``tune`` records it.
Ended = Callable[[optuna.Study, FrozenTrial], None]


@dataclass(frozen=True)
class Objective:
    """The validation metric a study optimises, and which way is better."""

    metric: str
    direction: Direction

    @classmethod
    def for_task(cls, task: Task, metric: str) -> Self:
        """The objective ``tune.metric`` names (``""``: the task's default).

        Raises:
            ConfigError: the metric does not score this task's models.
        """
        name = metric or DEFAULT_METRIC[task]
        if name not in DIRECTIONS[task]:
            choices = ", ".join(DIRECTIONS[task])
            raise ConfigError(f"tune.metric: {name} does not score a {task}; use one of {choices}")
        return cls(name, DIRECTIONS[task][name])

    def value(self, report: Report) -> float:
        """The metric of a validation report.

        Raises:
            TrainingError: the metric is undefined or not finite on these rows.
        """
        value = getattr(report, self.metric)
        if value is None or not math.isfinite(value):
            raise TrainingError(f"the validation {self.metric} is {value}: it cannot rank a trial")
        return float(value)

    def intermediate(self, stats: EpochStats) -> float:
        """An epoch's validation loss, signed so that the study's direction is better."""
        return stats.validation_loss if self.direction == "minimize" else -stats.validation_loss


@dataclass(frozen=True)
class Search:
    """What every trial of a study trains on: the settings, the training rows, the goal."""

    settings: Settings
    schema: DatasetSchema
    rows: pd.DataFrame
    objective: Objective
    data_sha256: str


@dataclass(frozen=True)
class TuneResult:
    """The outcome of a study: its trials, its best trial, and the files written."""

    study: str
    objective: Objective
    counts: dict[str, int]
    best_number: int
    best_value: float
    best_params: Params
    files: tuple[Path, ...]


def tuning_dir(settings: Settings) -> Path:
    """Where studies, trial records, ``best.toml`` and the figures go."""
    return settings.paths.reports_dir / "tuning"


def storage_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the studies' SQLite file (absolute, for Ray's worker processes)."""
    return f"sqlite:///{(tuning_dir(settings) / STUDIES_FILE).resolve()}"


def with_params(settings: Settings, params: Params) -> Settings:
    """Return ``settings`` with a trial's values (``model.<key>``, ``train.<key>``) set."""
    updates: dict[str, dict[str, JsonValue]] = {}
    for name, value in params.items():
        section, _, key = name.partition(".")
        updates.setdefault(section, {})[key] = value
    sections = {
        name: TUNABLE_SECTIONS[name].model_validate(getattr(settings, name).model_dump() | values)
        for name, values in updates.items()
    }
    return settings.model_copy(update=sections)


def decoded(settings: Settings, params: dict[str, Any]) -> Params:
    """A trial's parameters as the settings take them (Optuna keeps lists as JSON text)."""
    values: Params = {}
    for name, value in params.items():
        distribution = settings.tune.space[name]
        values[name] = distribution.decode(value) if isinstance(distribution, Choice) else value
    return values


def fingerprint(search: Search) -> dict[str, str]:
    """What a study must keep to stay one study: the goal, the space, the data, the rest."""
    settings = search.settings
    space = settings.tune.space
    untuned = {
        name: {
            key: value
            for key, value in getattr(settings, name).model_dump(mode="json").items()
            if f"{name}.{key}" not in space
        }
        for name in TUNABLE_SECTIONS
    }
    return {
        "metric": search.objective.metric,
        "space": json.dumps({name: space[name].model_dump() for name in sorted(space)}),
        "data": search.data_sha256,
        "settings": json.dumps({"seed": settings.seed, **untuned}, sort_keys=True),
    }


def new_search(settings: Settings) -> Search:
    """Prepare the data (if needed) and read the training rows every trial learns from."""
    dataset = prepare(settings)
    return Search(
        settings=settings,
        schema=dataset.schema,
        rows=load_part(settings, dataset, TRAIN_FILE),
        objective=Objective.for_task(dataset.schema.target.task, settings.tune.metric),
        data_sha256=dict(digests(dataset))[TRAIN_FILE],
    )


def open_study(search: Search, name: str) -> optuna.Study:
    """Create the study ``name``, or load it to resume; refuse one that searched otherwise.

    Raises:
        ConfigError: the study exists with another metric, space, data or settings.
    """
    directory = tuning_dir(search.settings)
    directory.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=storage_url(search.settings),
        study_name=name,
        direction=search.objective.direction,
        load_if_exists=True,
    )
    expected = fingerprint(search)
    if not study.user_attrs:
        for key, value in expected.items():
            study.set_user_attr(key, value)
    elif changed := [key for key, value in expected.items() if study.user_attrs.get(key) != value]:
        raise ConfigError(
            f"{directory / STUDIES_FILE}: study {name!r} searched with another "
            f"{', '.join(changed)}; tune with --study <new name>, or delete the file to start over"
        )
    # Seeded by the trials so far, so a resumed study does not replay the first suggestions.
    study.sampler = optuna.samplers.TPESampler(seed=search.settings.seed + len(study.trials))
    if model.EPOCH_TRAINED:
        study.pruner = optuna.pruners.MedianPruner(
            n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=PRUNE_AFTER_EPOCHS
        )
    return study


def evaluate_params(search: Search, params: Params, report: EpochCallback) -> Fitted:
    """Train as ``train`` does, with the trial's ``params``; ``report`` sees each epoch."""
    settings = with_params(search.settings, params)
    model.seed_everything(settings.seed)
    return fit(settings, search.schema, search.rows, report=report)


def history_of(trial: FrozenTrial) -> list[dict[str, float]]:
    """The epochs a trial ran: its losses if it kept them, else its reported values."""
    kept = trial.user_attrs.get("history")
    if isinstance(kept, list):
        return kept
    return [
        {"epoch": step, "objective": value}
        for step, value in sorted(trial.intermediate_values.items())
    ]


def record_trial(search: Search, study: optuna.Study, trial: FrozenTrial) -> TrialRecord:
    """Write the record of an ended trial and log it in one line."""
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    record = TrialRecord(
        study=study.study_name,
        number=trial.number,
        state=trial.state.name.lower(),
        params=decoded(search.settings, trial.params),
        metric=search.objective.metric,
        value=trial.value if trial.state == TrialState.COMPLETE else None,
        validation=trial.user_attrs.get("validation"),
        history=history_of(trial),
        duration_seconds=duration,
    )
    directory = tuning_dir(search.settings) / study.study_name
    write_json(directory / f"trial-{trial.number:04d}.json", asdict(record))
    values = ", ".join(f"{name}={shown(value)}" for name, value in record.params.items())
    outcome = f"{record.metric} {record.value:.6g}" if record.value is not None else record.state
    logger.info("trial %d: %s (%s)", trial.number, outcome, values)
    return record


def shown(value: JsonValue) -> str:
    """A parameter's value for a log line: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else json.dumps(value)


def run_trials(
    study: optuna.Study,
    search: Search,
    count: int,
    timeout: float | None,
    ended: Ended,
) -> None:
    """Run ``count`` trials one after the other in this process (at most ``timeout`` s).

    A trial whose training fails (a loss that is not finite, say: the learning rate was
    too high) is recorded as failed and the study goes on.
    """

    def objective(trial: optuna.Trial) -> float:
        params = {
            name: suggest(trial, name, dist) for name, dist in search.settings.tune.space.items()
        }
        history: list[EpochStats] = []

        def report(stats: EpochStats) -> None:
            check_epoch(stats)
            history.append(stats)
            if model.EPOCH_TRAINED:
                trial.report(search.objective.intermediate(stats), stats.epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned

        try:
            fitted = evaluate_params(search, params, report)
        finally:
            trial.set_user_attr("history", [asdict(stats) for stats in history])
        trial.set_user_attr("validation", asdict(fitted.validation))
        return search.objective.value(fitted.validation)

    study.optimize(
        objective, n_trials=count, timeout=timeout, catch=(TrainingError,), callbacks=[ended]
    )


Runner = Callable[[optuna.Study, Search, int, float | None, Ended], None]


def write_outputs(search: Search, study: optuna.Study) -> TuneResult:
    """Write ``best.toml`` and the figures of a study; return its outcome.

    Raises:
        TrainingError: no trial of the study has completed.
    """
    counts = {state.name.lower(): 0 for state in (*ENDED, TrialState.FAIL)}
    for trial in study.trials:
        if trial.state.name.lower() in counts:
            counts[trial.state.name.lower()] += 1
    complete = [trial for trial in study.trials if trial.state == TrialState.COMPLETE]
    if not complete:
        raise TrainingError(
            f"study {study.study_name!r}: no trial completed ({counts['pruned']} pruned, "
            f"{counts['fail']} failed): see the log, then widen tune.space or raise --trials"
        )
    best = study.best_trial
    params = decoded(search.settings, best.params)
    directory = tuning_dir(search.settings)
    best_settings = with_params(search.settings, params)
    document = best_settings.model_dump(
        mode="json", exclude_none=True, exclude={"serving": {"tokens"}}
    )
    header = (
        f"# The settings of trial {best.number} of study {study.study_name!r}: validation "
        f"{search.objective.metric} {best.value:.6g}.\n"
        f"# `{DISTRIBUTION} train --config {directory / BEST_FILE}` trains that model.\n\n"
    )
    files = [write_text(directory / BEST_FILE, header + tomli_w.dumps(document))]
    files.append(
        tuning_history(
            [(trial.number, float(trial.value or 0.0)) for trial in complete],
            search.objective.metric,
            search.objective.direction,
            directory / HISTORY_FIGURE,
        )
    )
    if len(complete) >= 2:
        importances = optuna.importance.get_param_importances(
            study,
            evaluator=optuna.importance.FanovaImportanceEvaluator(seed=search.settings.seed),
        )
        files.append(parameter_importance(importances, directory / IMPORTANCE_FIGURE))
    else:  # and an earlier study's figure must not pass for this one's
        (directory / IMPORTANCE_FIGURE).unlink(missing_ok=True)
        logger.warning("parameter importance needs two completed trials: figure not drawn")
    return TuneResult(
        study=study.study_name,
        objective=search.objective,
        counts=counts,
        best_number=best.number,
        best_value=float(best.value) if best.value is not None else math.nan,
        best_params=params,
        files=tuple(files),
    )


def quiet_optuna() -> None:
    """Send Optuna's log records through the package's logging, warnings and above only."""
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def overridden(settings: Settings, **options: object) -> Settings:
    """Return ``settings`` with the ``[tune]`` values given on the command line (not None).

    Raises:
        ConfigError: a value is invalid; the message names its option.
    """
    given = {key: value for key, value in options.items() if value is not None}
    try:
        section = TuneSettings.model_validate(settings.tune.model_dump() | given)
    except ValidationError as error:
        problems = [f"--{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
        raise ConfigError("; ".join(problems)) from None
    return settings.model_copy(update={"tune": section})


def tune(
    settings: Settings,
    *,
    on_trial: Sequence[TrialCallback] = (),
    runner: Runner = run_trials,
) -> TuneResult:
    """Run the study ``tune.study`` until ``tune.trials`` trials have ended.

    ``on_trial`` callbacks see each trial's record (MLflow logs it as a nested run);
    ``runner`` runs the trials (here by default; on Ray with ``--workers``).
    """
    quiet_optuna()
    search = new_search(settings)
    study = open_study(search, settings.tune.study)
    wanted = settings.tune.trials
    remaining = wanted - sum(trial.state in ENDED for trial in study.trials)

    def ended(study: optuna.Study, trial: FrozenTrial) -> None:
        record = record_trial(search, study, trial)
        for callback in on_trial:
            callback(record)

    if remaining > 0:
        logger.info("study %r: running %d of %d trials", study.study_name, remaining, wanted)
        runner(study, search, remaining, settings.tune.timeout or None, ended)
    else:
        logger.info("study %r has %d ended trials already: none to run", study.study_name, wanted)
    return write_outputs(search, study)
