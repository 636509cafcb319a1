"""The command line with Ray: ``train --workers N`` and ``tune --workers N``.

An extension of ``cli.py`` (entry point ``ray``): with more than one worker, ``train`` trains
data-parallel on Ray Train and ``tune`` runs that many trials at a time on Ray Tune
(``distributed.py``); with one, both run in this process as without Ray.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .cli import Commands, positive_int

if TYPE_CHECKING:
    from .config import Settings
    from .train import Trainer
    from .tune import Runner


def extend(commands: Commands) -> None:
    """Add ``--workers`` to ``train`` and ``tune``, and the trainer and runner it picks."""
    train = commands.parsers["train"]
    add_workers(
        train, "train data-parallel on this many Ray Train workers (default: 1, this process)"
    )
    train.set_defaults(trainer=trainer)
    tune = commands.parsers["tune"]
    add_workers(tune, "run this many trials at a time on Ray Tune (default: 1, in this process)")
    tune.set_defaults(runner=runner)


def add_workers(command: argparse.ArgumentParser, description: str) -> None:
    """Add ``--workers``: how many Ray workers, 1 or more (1, the default, runs here)."""
    command.add_argument("--workers", type=positive_int, default=1, help=description)


def trainer(args: argparse.Namespace, settings: Settings) -> Trainer:
    """Ray Train's data-parallel trainer for ``--workers`` above 1, else this process's."""
    from .train import train_here

    if args.workers == 1:
        return train_here
    from .distributed import train_on_ray

    return train_on_ray(settings.ray, args.workers)


def runner(args: argparse.Namespace, settings: Settings) -> Runner:
    """Ray Tune's runner for ``--workers`` above 1, else the one that runs trials here."""
    from .tune import run_trials

    if args.workers == 1:
        return run_trials
    from .distributed import tune_on_ray

    return tune_on_ray(settings.ray, args.workers)
