"""One command at a time changes a project's files, and each starts from a clean state.

Two ``train`` runs in one project would publish over each other and could leave one run's
record beside the other's weights. Every command that writes artifacts holds the project's
lock, ``.pipeline.lock`` beside ``models_dir``, through filelock (an OS lock that works on
every platform and dies with its process, so a killed command never leaves it held). A
second command waits, and says once which command it waits for. The next holder removes
what a killed command left: the temporary files of atomic writes, staging folders, and a
half-replaced model, which it restores (``publishing.recover``).
"""

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from . import DISTRIBUTION
from .artifacts import remove_partials
from .config import Settings

LOCK_FILE = ".pipeline.lock"
# Who holds the lock: the command, its process and since when, for the one that waits.
HOLDER_FILE = ".pipeline.lock.json"
# A holder file that cannot be read or lacks a field: the description falls back.
UNREADABLE = (OSError, ValueError, KeyError, TypeError)

logger = logging.getLogger(__name__)


def holder(folder: Path) -> str:
    """Describe the command that holds the lock in ``folder``, as far as it said."""
    try:
        document = json.loads((folder / HOLDER_FILE).read_text(encoding="utf-8"))
        command, pid, since = document["command"], document["pid"], document["since"]
    except UNREADABLE:
        return "another command"
    return f"`{DISTRIBUTION} {command}` (process {pid}, since {since})"


@contextmanager
def project_lock(settings: Settings, command: str) -> Iterator[None]:
    """Hold the project's lock for ``command``; wait while another command holds it."""
    folder = settings.paths.models_dir.parent
    folder.mkdir(parents=True, exist_ok=True)
    lock, holder_file = FileLock(folder / LOCK_FILE), folder / HOLDER_FILE
    try:
        lock.acquire(blocking=False)
    except Timeout:
        logger.warning("waiting for %s to finish; Ctrl+C stops waiting", holder(folder))
        lock.acquire()
    try:
        since = datetime.now(UTC).isoformat(timespec="seconds")
        # Written in place, not atomically: only the message of a waiting command reads it.
        document = {"command": command, "pid": os.getpid(), "since": since}
        holder_file.write_text(json.dumps(document), encoding="utf-8")
        clean_up(settings)
        yield
    finally:
        holder_file.unlink(missing_ok=True)
        lock.release()


def clean_up(settings: Settings) -> None:
    """Remove or repair what killed commands left behind (the caller holds the lock)."""
    # Imported here: publishing reads the run record's file name from records.py, which
    # imports the data layer (pandas, pandera), and the CLI imports this module to start.
    from . import publishing  # noqa: PLC0415

    publishing.recover(settings.paths.models_dir)
    paths = settings.paths
    for folder in (paths.models_dir, paths.processed_dir, paths.reports_dir):
        for leftover in remove_partials(folder):
            logger.info("removed %s, left by a command that was stopped", leftover)
