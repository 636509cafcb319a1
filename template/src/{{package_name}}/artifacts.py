"""Write the pipeline's files atomically; read them back or say what to rerun.

Every artifact is written to a temporary file beside its destination and renamed into
place once complete, so an interrupted command leaves the previous version or nothing,
never half a file that a later command would trust. Readers turn a missing or damaged file
into an ``ArtifactError`` that names the file and the command that writes it again.
"""

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._exceptions import DamagedArtifactError, MissingArtifactError


@contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path to write; move it to ``destination`` when the block succeeds.

    The temporary file sits in the destination's folder (a rename across file systems is
    not atomic), ends in the destination's suffix (writers that choose a format or a
    compression by it see the right one), and is removed if the block raises.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=destination.suffix, dir=destination.parent
    )
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        temporary.replace(destination)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(destination: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``destination`` atomically; return ``destination``."""
    with atomic_path(destination) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return destination


def write_json(destination: Path, document: Any) -> Path:  # noqa: ANN401 - any JSON document
    """Write ``document`` as indented JSON atomically; NaN and infinity are refused."""
    return write_text(destination, json.dumps(document, indent=2, allow_nan=False) + "\n")


def read_json(path: Path, command: str) -> Any:  # noqa: ANN401 - any JSON document
    """Read a JSON artifact that ``command`` writes.

    Raises:
        MissingArtifactError: there is no file at ``path``.
        DamagedArtifactError: it is not UTF-8 JSON.
    """
    if not path.is_file():
        raise MissingArtifactError(path, "not found", command)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedArtifactError(path, f"damaged ({error})", command) from None
