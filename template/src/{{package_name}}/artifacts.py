"""Write the pipeline's files atomically; read them back or say what to rerun.

Every artifact is written to a temporary file beside its destination and renamed into
place once complete, so an interrupted command leaves the previous version or nothing,
never half a file that a later command would trust. Readers turn a missing or damaged file
into an ``ArtifactError`` that names the file and the command that writes it again, and
refuse an archive that would unpack to far more than its size before anything unpacks it.
"""

import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ._exceptions import DamagedArtifactError, MissingArtifactError, ProjectError

# The temporary files of atomic writes start so; a killed command leaves them behind, and
# the next command that holds the project's lock removes them (``remove_partials``).
PARTIAL_PREFIX = ".partial."
# An archive (.npz, .skops, .pt, .keras: all ZIP files) that unpacks to more than this many
# times its size is refused as a decompression bomb, once it unpacks to more than the floor.
# Weights compress about 1.1 times; a file of zeros, a thousand times.
MAX_UNPACK_RATIO = 50
UNPACK_FLOOR_BYTES = 64 * 2**20
# JSON artifacts (run records, metrics, the dataset schema, the training reference) take
# kilobytes; a file past this is not one of them, and is not read into memory.
MAX_JSON_BYTES = 64 * 2**20
# What a saved document's ``from_dict`` builds (PEP 695's ``def f[T]`` needs Python 3.12).
T = TypeVar("T")


@contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path to write; move it to ``destination`` when the block succeeds.

    The temporary file sits in the destination's folder (a rename across file systems is
    not atomic), ends in the destination's suffix (writers that choose a format or a
    compression by it see the right one), and is removed if the block raises.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f"{PARTIAL_PREFIX}{destination.name}.",
        suffix=destination.suffix,
        dir=destination.parent,
    )
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        temporary.replace(destination)
    finally:
        temporary.unlink(missing_ok=True)


def remove_partials(directory: Path) -> list[Path]:
    """Remove the temporary files that killed atomic writes left under ``directory``.

    Only safe while no other command writes there: the caller holds the project's lock.
    Returns what was removed.
    """
    leftovers = sorted(directory.rglob(f"{PARTIAL_PREFIX}*"))  # none under a missing folder
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def check_archive(path: Path, command: str) -> None:
    """Refuse a ZIP archive that is not one, or that would unpack to far more than its size.

    The sizes come from the archive's directory, which Python's and NumPy's readers hold
    each member to, so nothing is unpacked to find out.

    Raises:
        DamagedArtifactError: it is not a ZIP archive, or it is a decompression bomb.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        problem = f"damaged ({type(error).__name__}: {error})"
        raise DamagedArtifactError(path, problem, command) from None
    size = path.stat().st_size
    if unpacked > max(UNPACK_FLOOR_BYTES, MAX_UNPACK_RATIO * size):
        problem = (
            f"damaged (it would unpack to {unpacked:,} bytes from {size:,}: more than "
            f"{MAX_UNPACK_RATIO} times its size, as a decompression bomb does)"
        )
        raise DamagedArtifactError(path, problem, command)


def write_text(destination: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``destination`` atomically; return ``destination``."""
    with atomic_path(destination) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return destination


def write_json(destination: Path, document: Any) -> Path:  # noqa: ANN401 - any JSON document
    """Write ``document`` as indented JSON atomically; return ``destination``.

    Raises:
        ProjectError: the document holds NaN or infinity, which JSON cannot: nothing is
            written, and the message names the first such value.
    """
    if (where := first_non_finite(document)) is not None:
        raise ProjectError(
            f"{destination}: not written: {where} is not a finite number, which JSON cannot hold"
        )
    return write_text(destination, json.dumps(document, indent=2) + "\n")


def first_non_finite(document: Any, where: str = "") -> str | None:  # noqa: ANN401 - JSON
    """Return where ``document`` holds NaN or infinity first (``a.b[2]``), ``None`` if nowhere."""
    if isinstance(document, float) and not math.isfinite(document):
        return f"{where or 'the document'} ({document})"
    children: Iterable[tuple[str, Any]] = ()
    if isinstance(document, dict):
        children = (
            (f"{where}.{key}" if where else str(key), value) for key, value in document.items()
        )
    elif isinstance(document, list | tuple):
        children = ((f"{where}[{index}]", value) for index, value in enumerate(document))
    return next(
        (found for child, value in children if (found := first_non_finite(value, child))), None
    )


def read_json(path: Path, command: str) -> Any:  # noqa: ANN401 - any JSON document
    """Read a JSON artifact that ``command`` writes.

    Raises:
        MissingArtifactError: there is no file at ``path``.
        DamagedArtifactError: it is not UTF-8 JSON, is nested past Python's recursion
            limit, or is larger than ``MAX_JSON_BYTES``.
    """
    if not path.is_file():
        raise MissingArtifactError(path, "not found", command)
    if (size := path.stat().st_size) > MAX_JSON_BYTES:
        problem = f"damaged ({size:,} bytes, more than {MAX_JSON_BYTES:,}: not one of its files)"
        raise DamagedArtifactError(path, problem, command)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedArtifactError(path, f"damaged ({error})", command) from None
    except RecursionError:
        raise DamagedArtifactError(path, "damaged (nested too deeply)", command) from None


def read_document(
    path: Path,
    command: str,
    from_dict: Callable[[Any], T],
    *,
    version: int | None = None,
    repair: str | None = None,
) -> T:
    """Read a JSON artifact that ``command`` writes and rebuild it with ``from_dict``.

    A document whose ``"version"`` is not ``version`` (when given) was saved in another
    format. That, and ``from_dict`` raising ``ValueError``, ``KeyError``, ``TypeError`` or
    ``AttributeError`` on a document of another shape, is damage; ``repair`` (``command``
    unless given) is the command that writes the file again.

    Raises:
        MissingArtifactError: there is no file at ``path``.
        DamagedArtifactError: it is not JSON, or not of the shape ``from_dict`` reads.
    """
    document = read_json(path, command)
    try:
        if version is not None:
            _check_version(document, version)
        return from_dict(document)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        problem = f"missing key {error}" if isinstance(error, KeyError) else str(error)
        raise DamagedArtifactError(path, f"damaged ({problem})", repair or command) from None


def _check_version(document: Any, version: int) -> None:  # noqa: ANN401 - any JSON document
    """Refuse a document saved in another format version than ``version``."""
    if document["version"] != version:
        raise ValueError(f"version {document['version']}, expected {version}")
