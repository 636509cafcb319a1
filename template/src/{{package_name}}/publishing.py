"""Put a trained model in place so that a kill at any moment leaves a model that can be trusted.

``train`` saves into a staging folder beside ``models_dir``. ``publish`` moves the files of
the model it replaces into a backup folder (the run record first), moves the new files in
(the record last) and removes the backup. The record marks a model as present. A kill
part-way leaves a backup folder behind. ``recover`` runs at the start of the next command
that holds the project's lock (``locking.py``): if the new record never arrived it puts the
previous model back, otherwise it drops the backup. It also removes staging folders of
killed runs.

``models_dir`` may be a mounted volume, so it is filled file by file (each move atomic)
rather than swapped whole.
"""

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .records import RECORD_FILE

STAGING_PREFIX = ".training-"
BACKUP_PREFIX = ".replaced-"

logger = logging.getLogger(__name__)


@contextmanager
def staging_folder(models_dir: Path) -> Iterator[Path]:
    """Yield a new, empty folder beside ``models_dir`` to save into; remove it afterwards."""
    models_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=models_dir.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, models_dir: Path) -> None:
    """Replace the model in ``models_dir`` with the complete one in ``staging``.

    The replaced files wait in a backup folder until the new record is in place, so
    ``recover`` can restore them after a kill.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    backup = Path(tempfile.mkdtemp(prefix=BACKUP_PREFIX, dir=models_dir.parent))
    record_last = sorted(staging.iterdir(), key=lambda path: path.name == RECORD_FILE)
    for path in reversed(record_last):
        if (models_dir / path.name).exists():
            (models_dir / path.name).replace(backup / path.name)
    for path in record_last:
        path.replace(models_dir / path.name)
    shutil.rmtree(backup)


def recover(models_dir: Path) -> None:
    """Finish what a killed ``train`` left: the previous model back, leftovers removed.

    Only safe while no other command writes there: the caller holds the project's lock.
    """
    folder = models_dir.parent
    for backup in sorted(folder.glob(f"{BACKUP_PREFIX}*")):
        if not (models_dir / RECORD_FILE).exists() and any(backup.iterdir()):
            for path in backup.iterdir():
                path.replace(models_dir / path.name)
            logger.warning(
                "restored the previous model in %s: a train was stopped while it replaced it",
                models_dir,
            )
        shutil.rmtree(backup, ignore_errors=True)
    for staging in folder.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(staging, ignore_errors=True)
