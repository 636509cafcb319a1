"""The command line with the API and MLflow: ``serve --model`` serves a registered version.

An extension of ``cli.py`` (entry point ``serving-registry``, after ``serving``, whose
``serve`` it extends).
"""

import argparse
import tempfile
from pathlib import Path

from .cli import Commands, Handler
from .config import Settings


def extend(commands: Commands) -> None:
    """Add ``--model`` to ``serve``: the registered version to download and serve."""
    serve = commands.parsers["serve"]
    serve.add_argument(
        "--model",
        metavar="URI",
        help="serve a registered version, models:/<name>@<alias> or models:/<name>/<version>, "
        "instead of paths.models_dir",
    )
    serve.set_defaults(handler=from_registry(serve.get_default("handler")))


def from_registry(serve: Handler) -> Handler:
    """Return ``serve`` run on the version ``--model`` names, downloaded, when it names one."""

    def run_serve(args: argparse.Namespace, settings: Settings) -> int:
        if args.model is None:
            return serve(args, settings)
        from .tracking import download

        folder = download(settings.tracking, args.model, Path(tempfile.mkdtemp(prefix="model-")))
        paths = settings.paths.model_copy(update={"models_dir": folder})
        return serve(args, settings.model_copy(update={"paths": paths}))

    return run_serve
