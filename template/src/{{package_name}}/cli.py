"""The command line: ``<project> --help`` lists the commands.

Each command is a function that takes the parsed arguments and the loaded settings and
returns the exit status, so tests call ``main`` with an argument list instead of spawning a
process.

Expected failures (a ``ProjectError``: bad settings, bad input data, a missing or damaged
artifact; or an ``OSError``) end the program with one ``error:`` line on standard error and
exit status 1; ``--debug`` shows the traceback. Any other exception is a bug: it keeps its
traceback. ``--profile`` profiles the command with cProfile (``reports/profiles/``).

Commands import the pipeline modules when they run, so ``--help`` and ``info`` start fast
even when the ML framework takes seconds to import.

Optional features extend the command line from modules of their own (``cli_*.py``), each
named under ``[project.entry-points."<package>.cli"]`` in ``pyproject.toml``: a function
that takes the ``Commands`` being built, adds commands and options, and may replace a
command's ``handler`` (or the ``trainer``/``runner`` it uses) with its own. They run in the
order of their entry-point names, after the core commands; a team adds a command the same
way (then ``uv sync`` installs the entry point).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import platform
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from importlib.metadata import distribution, metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import DISTRIBUTION, ENV_PREFIX, __version__
from ._exceptions import ProjectError
from .config import Settings, UnknownVariableWarning, config_path, load_settings
from .locking import project_lock
from .log import configure_logging
from .profiling import profile_block

if TYPE_CHECKING:
    import pandas as pd

    from .evaluate import Evaluation
    from .export import Exported
    from .predict import Predictor
    from .records import RunRecord, TrialRecord
    from .train import Trainer
    from .tune import Runner, TuneResult

EXPECTED_ERRORS = (ProjectError, OSError)
# The exit status of `monitor` when the rows drifted from the training data.
DRIFT_STATUS = 3
INPUT_FORMATS = ("csv", "tsv", "jsonl", "parquet")

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]
# What `train` and `tune` run their work with, chosen from the parsed options.
TrainerChoice = Callable[[argparse.Namespace, Settings], "Trainer"]
RunnerChoice = Callable[[argparse.Namespace, Settings], "Runner"]


@dataclass(frozen=True)
class Commands:
    """The command line being built, as an optional feature's extension sees it.

    ``parsers`` holds each command's parser by name; ``add`` adds a command, taking the
    arguments of ``argparse``'s ``add_parser`` (its parser accepts the global options too).
    """

    parsers: Mapping[str, argparse.ArgumentParser]
    add: Callable[..., argparse.ArgumentParser]


Extension = Callable[[Commands], None]


def positive_int(text: str) -> int:
    """Parse a count that must be 1 or more (``--trials``, ``--workers``)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not 1 or more")
    return number


def add_runtime(command: argparse.ArgumentParser) -> None:
    """Add ``--runtime``: the saved model, or its ONNX export on ONNX Runtime."""
    command.add_argument(
        "--runtime",
        choices=["native", "onnx"],
        help="native: the saved model (default); onnx: models/model.onnx on ONNX Runtime",
    )


def add_tune_options(tune: argparse.ArgumentParser) -> None:
    """Add the options of ``tune``: the size of the study, its time limit, its name."""
    tune.add_argument(
        "--trials",
        type=positive_int,
        help="trials the study should have (default: tune.trials); a resumed study runs the rest",
    )
    tune.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="start no trial after this many seconds (default: tune.timeout; 0: no limit)",
    )
    tune.add_argument("--study", help="the study to create or resume (default: tune.study)")


def add_global_options(parser: argparse.ArgumentParser, *, suppress_defaults: bool) -> None:
    """Add the options every command takes: ``--config``, ``--debug`` and ``--profile``.

    The main parser adds them with their defaults, and each command's parser again without
    (``argparse.SUPPRESS``), so they may come before or after the command (``--config X
    train`` or ``train --config X``), and one given before the command is not reset after it.
    """
    unset: Any = argparse.SUPPRESS
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        default=unset if suppress_defaults else None,
        help=f"TOML settings file (default: ${ENV_PREFIX}CONFIG, else configs/default.toml)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=unset if suppress_defaults else False,
        help="show tracebacks and debug-level log records",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        default=unset if suppress_defaults else False,
        help="profile the command: reports/profiles/<command>.prof and the top entries in the log"
        f" (also ${ENV_PREFIX}PROFILE=1)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog=DISTRIBUTION,
        # The description is plain text: argparse would read a `%` in it as a format.
        description=metadata(DISTRIBUTION)["Summary"].replace("%", "%%"),
    )
    parser.set_defaults(locks_project=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_global_options(parser, suppress_defaults=False)
    # Each command's parser takes the global options too (see add_global_options).
    shared = argparse.ArgumentParser(add_help=False)
    add_global_options(shared, suppress_defaults=True)
    commands = parser.add_subparsers(
        title="commands", metavar="COMMAND", dest="command", required=True
    )
    add_parser = functools.partial(commands.add_parser, parents=[shared])

    info = add_parser("info", help="show the version, the environment and the effective settings")
    info.set_defaults(handler=run_info)

    prepare = add_parser("prepare", help="build the dataset and its train/test split")
    prepare.add_argument(
        "--force", action="store_true", help="rebuild even if the files are current"
    )
    prepare.set_defaults(handler=run_prepare, locks_project=True)

    train = add_parser("train", help="train the model and save it with its run record")
    train.set_defaults(handler=run_train, locks_project=True, trainer=None)

    tune = add_parser(
        "tune", help="search the model's settings with Optuna; write reports/tuning/best.toml"
    )
    add_tune_options(tune)
    tune.set_defaults(handler=run_tune, locks_project=True, runner=None)

    evaluate = add_parser(
        "evaluate", help="score the saved model on the test set; write metrics and plots"
    )
    evaluate.set_defaults(handler=run_evaluate, locks_project=True)

    predict = add_parser("predict", help="predict the target for rows from a file or stdin")
    predict.add_argument(
        "input",
        nargs="?",
        type=Path,
        help="CSV (also .csv.gz), TSV, Parquet or JSON-lines file; default: standard input",
    )
    predict.add_argument(
        "--format",
        choices=INPUT_FORMATS,
        help="input format (default: from the file suffix; CSV for standard input)",
    )
    predict.add_argument(
        "--output",
        type=Path,
        help="write the predictions here (.jsonl, .csv, .tsv or .parquet) instead of standard "
        "output (JSON lines)",
    )
    add_runtime(predict)
    predict.set_defaults(handler=run_predict)

    explain = add_parser("explain", help="permutation importance of each feature on the test set")
    explain.set_defaults(handler=run_explain, locks_project=True)

    export = add_parser(
        "export", help="export preprocessing and model to models/model.onnx; check its parity"
    )
    export.add_argument(
        "--quantize", action="store_true", help="also write an 8-bit models/model.int8.onnx"
    )
    export.set_defaults(handler=run_export, locks_project=True)

    monitor = add_parser(
        "monitor",
        help="compare a batch of rows with the training data; exit 3 when a feature drifted",
    )
    monitor.add_argument("input", nargs="?", type=Path, help="rows to compare (as for predict)")
    monitor.add_argument("--format", choices=INPUT_FORMATS, help="input format (as for predict)")
    add_runtime(monitor)
    monitor.set_defaults(handler=run_monitor, locks_project=True)

    extend(Commands(commands.choices, add_parser))
    return parser


def extend(commands: Commands) -> None:
    """Let each optional feature's extension add its commands (see the module docstring)."""
    points = distribution(DISTRIBUTION).entry_points.select(group=f"{__package__}.cli")
    for point in sorted(points, key=lambda point: point.name):
        extension = cast("Extension", point.load())
        extension(commands)


def run_info(args: argparse.Namespace, settings: Settings) -> int:
    """Print the version, the interpreter, the settings file and the effective settings."""
    source = config_path(args.config)
    print(f"{DISTRIBUTION} {__version__}")
    print(f"python {platform.python_version()} ({sys.executable})")
    print(f"platform {platform.platform()}")
    print(f"settings file {source if source is not None else '(none: defaults and environment)'}")
    print(json.dumps(settings.model_dump(mode="json"), indent=2, sort_keys=True))
    return 0


def run_prepare(args: argparse.Namespace, settings: Settings) -> int:
    """Write the train/test split (reused when current unless ``--force``)."""
    from .prepare import prepare

    info = prepare(settings, force=args.force)
    print(
        f"{info.train_rows} training and {info.test_rows} test rows in {settings.paths.processed_dir}"
    )
    return 0


def train_model(args: argparse.Namespace, settings: Settings) -> RunRecord:
    """Train and save the model with the trainer the options chose; return its record.

    The trainer is ``train_here`` (this process) unless an extension set ``trainer`` on the
    ``train`` command (``--workers`` with Ray).
    """
    from .train import train, train_here

    choose: TrainerChoice | None = args.trainer
    return train(settings, train_here if choose is None else choose(args, settings))


def report_training(settings: Settings, record: RunRecord) -> None:
    """Print where the model went and its validation score."""
    from .metrics import summary

    print(
        f"model saved to {settings.paths.models_dir} in {record.duration_seconds:.2f} s: "
        f"validation {summary(record.validation)}"
    )


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    """Train and save the model; print where it went and its validation score."""
    report_training(settings, train_model(args, settings))
    return 0


def study_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with ``tune``'s options (``--trials``, ``--timeout``, ``--study``) applied."""
    from .tune import overridden

    return overridden(settings, trials=args.trials, timeout=args.timeout, study=args.study)


def tune_study(
    args: argparse.Namespace,
    settings: Settings,
    on_trial: Sequence[Callable[[TrialRecord], None]] = (),
) -> TuneResult:
    """Run the study of ``settings`` (see ``study_settings``), calling ``on_trial`` as trials end.

    Trials run in this process unless an extension set ``runner`` on the ``tune`` command
    (``--workers`` with Ray).
    """
    from .tune import run_trials, tune

    choose: RunnerChoice | None = args.runner
    runner = run_trials if choose is None else choose(args, settings)
    return tune(settings, on_trial=on_trial, runner=runner)


def report_tuning(result: TuneResult) -> None:
    """Print the study's trials, its best trial, and the files written."""
    from .tune import shown

    counts = ", ".join(f"{count} {state}" for state, count in result.counts.items())
    values = ", ".join(f"{name}={shown(value)}" for name, value in result.best_params.items())
    print(
        f"study {result.study}: {counts}; best trial {result.best_number}: validation "
        f"{result.objective.metric} {result.best_value:.6g} with {values}"
    )
    for path in result.files:
        print(f"wrote {path}")


def run_tune(args: argparse.Namespace, settings: Settings) -> int:
    """Run the study; print its trials, the best one, and the files written."""
    report_tuning(tune_study(args, study_settings(args, settings)))
    return 0


def evaluate_model(settings: Settings) -> Evaluation:
    """Score the saved model on the test set; print the headline numbers and the outputs."""
    from .evaluate import evaluate
    from .metrics import summary

    result = evaluate(settings)
    print(f"test {summary(result.report)}")
    for path in (result.metrics_path, *result.figures, *result.documents):
        print(f"wrote {path}")
    return result


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001 - uniform handler
    """Score the saved model on the test set; print the headline numbers and the outputs."""
    evaluate_model(settings)
    return 0


def read_rows(predictor: Predictor, args: argparse.Namespace) -> tuple[pd.DataFrame, str]:
    """Read the rows of ``args.input`` (default: standard input); return them and their name."""
    from .sources import file_format

    source: Path | None = args.input
    if source is None:
        stdin = getattr(sys.stdin, "buffer", None)
        data = stdin.read() if stdin is not None else sys.stdin.read().encode("utf-8")
        name = "standard input"
        return predictor.read(io.BytesIO(data), args.format or "csv", name), name
    name = str(source)
    return predictor.read(source, args.format or file_format(source), name), name


def run_predict(args: argparse.Namespace, settings: Settings) -> int:
    """Predict the target of each input row; write one prediction per row."""
    from .predict import Predictor, write_predictions

    predictor = Predictor.load(settings.paths.models_dir, args.runtime or "native")
    frame, name = read_rows(predictor, args)
    predictions = predictor.predict(frame, name)
    if args.output is None:
        sys.stdout.write(predictions.to_jsonl())
    else:
        write_predictions(predictions, args.output)
        print(f"wrote {len(predictions)} predictions to {args.output}", file=sys.stderr)
    return 0


def run_explain(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001 - uniform handler
    """Compute each feature's permutation importance; print the most important ones."""
    from .explain import explain

    explanation, report, figure = explain(settings)
    for importance in explanation.importances[:10]:
        print(f"{importance.feature}: {importance.mean:.4f} +/- {importance.std:.4f}")
    print(f"wrote {report}\nwrote {figure}")
    return 0


def export_model(args: argparse.Namespace, settings: Settings) -> Exported:
    """Export to ONNX; print the parity check (and the quantised graph's size and metric)."""
    from .export import export

    result = export(settings, quantized=args.quantize)
    parity = result.parity
    print(
        f"wrote {result.path}: on {parity.rows} test rows the largest difference from the "
        f"model is {parity.max_difference:.3g} ({parity.max_relative_difference:.3g} relative; "
        f"tolerance {parity.tolerance:g})"
        + ("" if parity.same_classes is None else f", same classes: {parity.same_classes}")
    )
    if result.quantized is not None:
        quantized = result.quantized
        print(
            f"wrote {quantized.path}: {quantized.bytes} bytes (float: {quantized.float_bytes}), "
            f"test {quantized.metric} {quantized.value:.4f} (float: {quantized.float_value:.4f})"
        )
    print(f"wrote {result.report_path}")
    return result


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    """Export to ONNX; print the parity check (and the quantised graph's size and metric)."""
    export_model(args, settings)
    return 0


def run_monitor(args: argparse.Namespace, settings: Settings) -> int:
    """Compare rows with the training data; exit 3 when a feature (or the output) drifted."""
    from .monitoring import monitor
    from .predict import Predictor

    predictor = Predictor.load(settings.paths.models_dir, args.runtime or "native")
    frame, name = read_rows(predictor, args)
    result, paths = monitor(settings, predictor, frame, name)
    for column in result.columns:
        p_value = "n/a" if column.p_value is None else f"{column.p_value:.3g}"
        line = f"{column.column}: PSI {column.psi:.3f}, {column.test} p-value {p_value}"
        print(f"DRIFT {line} ({'; '.join(column.reasons)})" if column.drifted else f"ok    {line}")
    print(f"wrote {paths[0]}\nwrote {paths[1]}")
    if result.drifted:
        drifted = ", ".join(result.drifted)
        print(
            f"drift in {len(result.drifted)} of {len(result.columns)} columns: {drifted}",
            file=sys.stderr,
        )
        return DRIFT_STATUS
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        with warnings.catch_warnings(record=True) as notices:
            warnings.simplefilter("always", FutureWarning)
            warnings.simplefilter("always", UnknownVariableWarning)
            settings = load_settings(args.config)
        configure_logging(settings.logging)
        if args.debug:
            logging.getLogger(__package__).setLevel(logging.DEBUG)
        for notice in notices:
            logger.warning("%s", notice.message)
        profile = settings.paths.profiles_dir / f"{args.command}.prof"
        # A command that writes artifacts waits for any other one (see locking.py).
        lock = project_lock(settings, args.command) if args.locks_project else nullcontext()
        profiling = profile_block(args.command, output=profile, enabled=args.profile or None)
        with lock, profiling:
            return handler(args, settings)
    except EXPECTED_ERRORS as error:
        if args.debug:
            raise
        # One line, whatever a library put in the message it wrapped.
        print(f"error: {' '.join(str(error).splitlines())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
