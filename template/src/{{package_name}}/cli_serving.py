"""The command line with the inference API: ``serve`` and ``token``.

An extension of ``cli.py`` (entry point ``serving``).
"""

import argparse

from . import DISTRIBUTION, ENV_PREFIX
from ._exceptions import ConfigError
from .cli import Commands, add_runtime
from .config import Settings


def extend(commands: Commands) -> None:
    """Add ``serve``, which runs the API, and ``token``, which makes a client's token."""
    serve = commands.add("serve", help="run the inference API (see serving/app.py)")
    serve.add_argument("--host", help="interface to listen on (default: serving.host)")
    serve.add_argument("--port", type=tcp_port, help="port to listen on (default: serving.port)")
    add_runtime(serve)
    serve.set_defaults(handler=run_serve)

    token = commands.add("token", help="print a new random API token")
    token.set_defaults(handler=run_token)


def tcp_port(text: str) -> int:
    """Parse ``--port``: a TCP port number from 1 to 65535, as ``serving.port`` accepts."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 1 and 65535")
    return port


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the model over HTTP until interrupted."""
    import gc

    import uvicorn

    from .serving import create_app

    if not settings.serving.tokens:
        raise ConfigError(
            "serving.tokens is empty, so no client could call /predict: set "
            f"{ENV_PREFIX}SERVING__TOKENS='[\"<token>\"]' (`{DISTRIBUTION} token` makes one)"
        )
    host = settings.serving.host if args.host is None else args.host
    port = settings.serving.port if args.port is None else args.port
    app = create_app(settings if args.runtime is None else with_runtime(settings, args.runtime))
    address = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    print(f"serving on {address} (API documentation: {address}/docs); Ctrl+C stops", flush=True)
    # The model and the libraries, loaded once, never become garbage: kept out of the
    # collector's reach, they are not scanned again on every collection a request triggers.
    gc.freeze()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,  # the package's logging set-up stays in charge
        # uvicorn's loggers at the package's level: left unset, every request formats
        # trace messages that no handler then writes.
        log_level=settings.logging.level.lower(),
        access_log=False,  # requests are logged by the app, with their latency
        timeout_keep_alive=settings.serving.keep_alive_seconds,
        limit_concurrency=settings.serving.max_connections,
    )
    return 0


def with_runtime(settings: Settings, runtime: str) -> Settings:
    """The settings with ``serving.runtime`` replaced (``serve --runtime``)."""
    return settings.model_copy(
        update={"serving": settings.serving.model_copy(update={"runtime": runtime})}
    )


def run_token(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001 - uniform handler
    """Print a new URL-safe token with 256 bits of entropy, for serving.tokens."""
    from .security import generate_token

    print(generate_token())
    return 0
