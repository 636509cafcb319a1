"""Profile functions and code blocks with cProfile, and time them, reporting through logging.

``@profiled`` (bare or with options) and ``profile_block`` record a cProfile profile, log the
top entries at INFO level, and can dump a ``.prof`` file for ``pstats`` or snakeviz.
``@timed`` only logs the wall time.

Profiling is off unless asked for, by ``enabled=True`` or by setting the
``PROFILE`` variable of the package's prefix (``ENV_PREFIX``) to 1
before the program starts. The decorator reads that switch once, when it decorates: a disabled
``@profiled`` returns the function itself, so it costs nothing per call. ``profile_block``
reads it each time it is entered.

cProfile allows one active profiler per thread (Python 3.12 and later raise an error for a
second one). A profiled call that starts while another profile runs on the same thread (a
recursive call, a profiled helper, another coroutine on the same event loop) is not profiled
separately: its time is already counted by the outer profile. A coroutine's profile covers
whatever else the event loop runs while it awaits.
"""

import cProfile
import functools
import inspect
import io
import logging
import os
import pstats
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast, overload

from . import ENV_PREFIX

logger = logging.getLogger(__name__)

# The generic decorators' parameters, declared in the form every supported Python reads
# (PEP 695's ``def f[**P, R]`` needs 3.12; ruff's UP047 is off for this file).
P = ParamSpec("P")
R = TypeVar("R")
PROFILE_ENV_VAR = f"{ENV_PREFIX}PROFILE"
PROFILE_DIR_ENV_VAR = f"{ENV_PREFIX}PROFILE_DIR"
SORT_KEYS = frozenset(pstats.Stats.sort_arg_dict_default)
_TRUE = frozenset({"1", "true", "yes", "on"})
_state = threading.local()


@dataclass
class ProfileResult:
    """What a profile produced; ``profile_block`` fills it in when the block ends."""

    label: str
    seconds: float = 0.0
    stats: pstats.Stats | None = None
    path: Path | None = None
    nested: bool = False


def profiling_enabled() -> bool:
    """Tell whether ``PROFILE_ENV_VAR`` asks for profiling (1, true, yes or on)."""
    return os.environ.get(PROFILE_ENV_VAR, "").strip().lower() in _TRUE


def _check_options(sort_by: str, limit: int) -> None:
    if sort_by not in SORT_KEYS:
        raise ValueError(f"sort_by must be one of {sorted(SORT_KEYS)}, got {sort_by!r}")
    if limit < 1:
        raise ValueError(f"limit must be a positive number of entries, got {limit}")


def _default_output(label: str) -> Path | None:
    directory = os.environ.get(PROFILE_DIR_ENV_VAR)
    if not directory:
        return None
    return Path(directory) / (re.sub(r"[^\w.-]+", "_", label) + ".prof")


def _report(
    profiler: cProfile.Profile,
    result: ProfileResult,
    sort_by: str,
    limit: int,
    output: Path | None,
) -> None:
    if output is not None:
        # Reporting must never replace the profiled call's result or exception.
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(output)
        except OSError as error:
            logger.warning("could not write the profile of %s: %s", result.label, error)
            output = None
        else:
            result.path = output
    summary = io.StringIO()
    stats = pstats.Stats(profiler, stream=summary)
    stats.sort_stats(sort_by).print_stats(limit)
    result.stats = stats
    logger.info(
        "profile of %s: %.6f s%s\n%s",
        result.label,
        result.seconds,
        f", written to {output}" if output is not None else "",
        summary.getvalue().strip("\n"),
        extra={"profile": result.label, "seconds": result.seconds},
    )


@contextmanager
def profile_block(
    label: str,
    *,
    sort_by: str = "cumulative",
    limit: int = 20,
    output: str | os.PathLike[str] | None = None,
    enabled: bool | None = None,
) -> Iterator[ProfileResult]:
    """Profile the ``with`` block; log the top ``limit`` entries sorted by ``sort_by``.

    Args:
        label: Name of the block in the log record and the default ``.prof`` file name.
        sort_by: A ``pstats`` sort key, such as ``cumulative``, ``tottime`` or ``calls``.
        limit: How many entries the logged summary shows.
        output: A ``.prof`` file to write (overwritten each time). Default: none, or
            ``<PROFILE_DIR_ENV_VAR>/<label>.prof`` when that variable is set.
        enabled: Force profiling on or off; ``None`` follows ``PROFILE_ENV_VAR``.

    Yields:
        A ``ProfileResult``, complete once the block has ended (also when it raised).
    """
    _check_options(sort_by, limit)
    result = ProfileResult(label)
    if not (profiling_enabled() if enabled is None else enabled):
        yield result
        return
    if getattr(_state, "active", False):
        result.nested = True
        logger.debug("%s runs inside another profile, which counts its time", label)
        yield result
        return
    profiler = cProfile.Profile()
    try:
        profiler.enable()
    except ValueError as error:  # Python 3.12+: a debugger or another profiler is active
        logger.warning("not profiling %s: %s", label, error)
        yield result
        return
    _state.active = True
    start = time.perf_counter()
    try:
        yield result
    finally:
        profiler.disable()
        _state.active = False
        result.seconds = time.perf_counter() - start
        destination = Path(output) if output is not None else _default_output(label)
        _report(profiler, result, sort_by, limit, destination)


@contextmanager
def _stopwatch(label: str, level: int) -> Iterator[None]:
    start = time.perf_counter()
    outcome = "failed after"
    try:
        yield
        outcome = "took"
    finally:
        seconds = time.perf_counter() - start
        logger.log(level, "%s %s %.6f s", label, outcome, seconds, extra={"seconds": seconds})


def _wrap(
    function: Callable[P, R], around: Callable[[], AbstractContextManager[Any]]
) -> Callable[P, R]:
    """Return ``function`` wrapped so each call (or awaited coroutine) runs inside ``around()``."""
    if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
        raise TypeError(
            f"{function.__qualname__} is a generator function: calling it only creates the "
            "generator, so decorate the code that consumes it instead"
        )
    if inspect.iscoroutinefunction(function):
        coroutine_function = cast("Callable[P, Awaitable[Any]]", function)

        @functools.wraps(function)
        async def wrapped_coroutine(*args: P.args, **kwargs: P.kwargs) -> Any:  # noqa: ANN401 - the wrapped coroutine's result, whatever it is
            with around():
                return await coroutine_function(*args, **kwargs)

        return cast("Callable[P, R]", wrapped_coroutine)

    @functools.wraps(function)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        with around():
            return function(*args, **kwargs)

    return wrapped


def _label(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


@overload
def profiled(function: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def profiled(
    *,
    sort_by: str = "cumulative",
    limit: int = 20,
    output: str | os.PathLike[str] | None = None,
    enabled: bool | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def profiled(
    function: Callable[P, R] | None = None,
    /,
    *,
    sort_by: str = "cumulative",
    limit: int = 20,
    output: str | os.PathLike[str] | None = None,
    enabled: bool | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Profile every call of a function or coroutine function (see ``profile_block``).

    Use it bare, ``@profiled``, or with options, ``@profiled(sort_by="tottime", limit=10,
    output="reports/train.prof")``. The wrapped function keeps its signature and type.
    When profiling is disabled at decoration time the function is returned unchanged.
    Exceptions propagate unchanged; the profile up to the exception is still reported.
    """
    _check_options(sort_by, limit)

    def decorate(target: Callable[P, R]) -> Callable[P, R]:
        if not (profiling_enabled() if enabled is None else enabled):
            return target
        label = _label(target)
        return _wrap(
            target,
            lambda: profile_block(label, sort_by=sort_by, limit=limit, output=output, enabled=True),
        )

    return decorate if function is None else decorate(function)


@overload
def timed(function: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def timed(*, level: int = logging.INFO) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def timed(
    function: Callable[P, R] | None = None, /, *, level: int = logging.INFO
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Log the wall time of every call of a function or coroutine function.

    Use it bare, ``@timed``, or with a log level, ``@timed(level=logging.DEBUG)``. A call
    that raises is logged as "failed after" and the exception propagates unchanged.
    """

    def decorate(target: Callable[P, R]) -> Callable[P, R]:
        label = _label(target)
        return _wrap(target, lambda: _stopwatch(label, level))

    return decorate if function is None else decorate(function)
