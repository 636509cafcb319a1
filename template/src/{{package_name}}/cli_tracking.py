"""The command line with MLflow: ``promote``, and runs recorded by the pipeline commands.

An extension of ``cli.py`` (entry point ``tracking``). ``train``, ``tune``, ``evaluate`` and
``export`` keep their work and their output, and add their record to MLflow
(``tracking.py``): a run with a registered model version, a parent run of the study's
trials, the test metrics and the ONNX files on the model's version. ``promote`` moves
``tracking.alias`` to a version whose test metric is better.
"""

import argparse
from pathlib import Path

from .cli import (
    Commands,
    evaluate_model,
    export_model,
    report_training,
    report_tuning,
    study_settings,
    train_model,
    tune_study,
)
from .config import Settings

# The exit status of `promote` when the candidate does not beat the alias's holder.
NOT_PROMOTED_STATUS = 4


def extend(commands: Commands) -> None:
    """Record the pipeline commands in MLflow, and add ``promote``."""
    commands.parsers["train"].set_defaults(handler=run_train)
    commands.parsers["tune"].set_defaults(handler=run_tune)
    commands.parsers["evaluate"].set_defaults(handler=run_evaluate)
    commands.parsers["export"].set_defaults(handler=run_export)

    promote = commands.add(
        "promote", help="move tracking.alias to this model's version if its test metric is better"
    )
    promote.add_argument("--version", help="the candidate version (default: the model's own)")
    promote.add_argument("--force", action="store_true", help="promote it whatever its numbers")
    promote.set_defaults(handler=run_promote, locks_project=True)


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    """Train and save the model, then record the run and register its version."""
    from .tracking import TrackingError, log_run, register

    record = train_model(args, settings)
    try:
        run_id = log_run(settings.tracking, record, settings.paths.models_dir)
        registered = register(settings.tracking, run_id, settings.paths.models_dir)
    except TrackingError as error:
        where = f"the model is saved in {settings.paths.models_dir}, but {error}"
        raise TrackingError(where) from error
    print(
        f"MLflow run {run_id} in {settings.tracking.uri}: {registered.model} version "
        f"{registered.version}"
    )
    report_training(settings, record)
    return 0


def run_tune(args: argparse.Namespace, settings: Settings) -> int:
    """Run the study as one MLflow run, each trial a run nested in it."""
    from .tracking import tuning_run

    settings = study_settings(args, settings)
    with tuning_run(settings.tracking, settings.tune.study) as log_trial:
        result = tune_study(args, settings, on_trial=[log_trial])
    report_tuning(result)
    return 0


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001 - uniform handler
    """Score the saved model; record the test metrics on its registered version."""
    from .tracking import log_evaluation

    result = evaluate_model(settings)
    registered = log_evaluation(settings.tracking, settings.paths.models_dir, result.report)
    print(f"test metrics recorded on {registered.model} version {registered.version}")
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    """Export to ONNX; add the exported files to the model's registered version."""
    from .tracking import log_export

    result = export_model(args, settings)
    exported = [result.path]
    if result.quantized is not None:
        exported.append(Path(result.quantized.path))
    registered = log_export(settings.tracking, settings.paths.models_dir, exported)
    print(f"added to {registered.model} version {registered.version} in MLflow")
    return 0


def run_promote(args: argparse.Namespace, settings: Settings) -> int:
    """Move the alias to a version whose test metric beats the holder's; print both."""
    from .records import RunRecord
    from .tracking import promote

    task = RunRecord.read(settings.paths.models_dir).schema.target.task
    result = promote(
        settings.tracking, settings.paths.models_dir, args.version, task, force=args.force
    )
    name = settings.tracking.registered_model
    held = "none"
    if result.champion is not None:
        held = f"version {result.champion}, {result.champion_value:.4f}"
    candidate = f"version {result.candidate}, {result.candidate_value:.4f}"
    print(f"{name} {result.alias}: {held}; candidate {candidate} ({result.metric})")
    if not result.promoted:
        reason = f"the candidate does not beat the {result.alias} (--force overrides)"
        if result.champion == result.candidate:
            reason = f"version {result.candidate} is the {result.alias} already"
        print(f"not promoted: {reason}")
        return NOT_PROMOTED_STATUS
    print(f"{result.alias} is now version {result.candidate}")
    return 0
