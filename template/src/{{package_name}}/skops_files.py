"""Save and load scikit-learn objects with skops, refusing any type this project does not trust.

skops lists the types a file holds before it builds any of them, so a tampered file cannot
run code on load. Kept apart from ``artifacts`` so that what only reads the ONNX model never
imports skops or scikit-learn.
"""

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import skops.io

from ._exceptions import DamagedArtifactError, MissingArtifactError
from .artifacts import atomic_path, check_archive


def dump_skops(value: object, destination: Path) -> None:
    """Save scikit-learn objects with skops, atomically."""
    with atomic_path(destination) as temporary:
        skops.io.dump(value, temporary)


def load_skops(path: Path, trusted: Sequence[str], command: str) -> Any:  # noqa: ANN401 - what was saved
    """Load a skops file, trusting only the types skops trusts and ``trusted``.

    skops lists the types a file contains before it builds any of them, so a tampered file
    cannot run code: a type outside the trusted ones is refused.

    Raises:
        MissingArtifactError: there is no file at ``path``.
        DamagedArtifactError: it is not a skops file, or it holds types not trusted.
    """
    if not path.is_file():
        raise MissingArtifactError(path, "not found", command)
    check_archive(path, command)
    try:
        untrusted = sorted(set(skops.io.get_untrusted_types(file=path)) - set(trusted))
        if not untrusted:
            return skops.io.load(path, trusted=list(trusted))
    except (zipfile.BadZipFile, EOFError, KeyError, TypeError, AttributeError, ValueError) as error:
        problem = f"damaged ({type(error).__name__}: {error})"
        raise DamagedArtifactError(path, problem, command) from None
    problem = f"holds types this project does not trust: {', '.join(untrusted)}"
    raise DamagedArtifactError(path, problem, command)
