"""Read tables: the files teams export (CSV, TSV, Parquet, JSON lines) and bundled demos.

Every reader returns a pandas DataFrame with a fresh ``RangeIndex``: the frame's row ``i``
is row ``i + 1`` of the input (``Problem`` counts rows that way). Every failure to read is
a ``DataError`` that names the file and, where the parser knows it, the row.

CSV files are read twice over their first lines and once in full: the first
``SNIFF_ROWS`` rows tell each column's type, and the full read is then told those types.
That read is as fast as pandas' own and needs a fifth less memory than letting pandas
infer every type itself. A value that does not fit its column's type further down the
file makes the reader start again without types, so the problem is reported, not hidden.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pandas as pd
import pyarrow as pa

from ._exceptions import ConfigError, DataError
from .profiling import timed

logger = logging.getLogger(__name__)

Format = Literal["csv", "tsv", "parquet", "jsonl"]
FORMATS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
# Compressed text files pandas reads by their suffix, e.g. data.csv.gz.
COMPRESSIONS = frozenset({".gz", ".bz2", ".xz"})
SNIFF_ROWS = 10_000
# The pandas types a CSV column is read with once its type is known.
READ_TYPES = {"float": "float64", "integer": "Int64", "boolean": "boolean", "text": "object"}
ColumnType = Literal["float", "integer", "boolean", "text"]


def file_format(path: Path) -> Format:
    """Return the format of ``path`` from its suffix (``.csv``, ``.csv.gz``, ``.parquet``...).

    Raises:
        DataError: the suffix is not one of ``FORMATS`` (optionally compressed).
    """
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    found = FORMATS.get(suffixes[-1]) if suffixes else None
    if found is None or (found == "parquet" and len(path.suffixes) > len(suffixes)):
        known = ", ".join(sorted(FORMATS))
        message = f"unknown file type: expected one of {known} (text formats may end in .gz)"
        raise DataError.one(path, message)
    return found


def column_type(series: pd.Series[Any]) -> ColumnType:
    """Name the type pandas gave a column, in the words of ``READ_TYPES``."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(series.dtype):
        return "float"
    return "text"


def _text_options(fmt: Format, missing_values: Sequence[str]) -> dict[str, Any]:
    """The options of ``pandas.read_csv`` for a CSV or TSV file."""
    return {"sep": "\t" if fmt == "tsv" else ",", "na_values": list(missing_values) or None}


def _read_text(
    source: Path | BinaryIO,
    fmt: Format,
    types: Mapping[str, ColumnType] | None,
    columns: Sequence[str] | None,
    missing_values: Sequence[str],
) -> pd.DataFrame:
    wanted = set(columns) if columns is not None else None
    frame: pd.DataFrame = pd.read_csv(
        source,
        dtype={name: READ_TYPES[kind] for name, kind in (types or {}).items()} or None,
        usecols=(lambda name: name in wanted) if wanted is not None else None,
        **_text_options(fmt, missing_values),
    )
    return frame


def _read_jsonl(source: Path | BinaryIO) -> pd.DataFrame:
    """Read JSON lines, keeping each value's JSON type; a bad line is named by its row.

    A UTF-8 byte order mark, which some Windows tools write, is skipped as ``read_csv`` does.
    """
    data = source.read_bytes() if isinstance(source, Path) else source.read()
    data = data.removeprefix(codecs.BOM_UTF8)
    lines = [line for line in data.splitlines() if line.strip()]
    if not lines:
        raise DataError.one(None, "the input is empty: expected one JSON object per line")
    problem = "not valid JSON lines"
    if all(line.lstrip().startswith(b"{") for line in lines):
        try:
            return pd.read_json(io.BytesIO(b"\n".join(lines)), lines=True, dtype=False)
        except ValueError as error:
            problem = f"not valid JSON lines: {error}"
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line.decode())  # UTF-8: a byte order mark inside is reported
        except json.JSONDecodeError as error:
            raise DataError.one(None, f"not valid JSON: {error.msg}", row=number) from None
        if not isinstance(record, dict):
            kind = type(record).__name__
            raise DataError.one(None, f"expected a JSON object, got {kind}", row=number)
    raise DataError.one(None, problem)


def _parse(
    source: Path | BinaryIO,
    fmt: Format,
    *,
    types: Mapping[str, ColumnType] | None,
    columns: Sequence[str] | None,
    missing_values: Sequence[str],
) -> pd.DataFrame:
    """Parse ``source``; raise ``DataError`` (without a source name) on any parse failure."""
    try:
        if fmt in ("csv", "tsv"):
            frame = _read_text(source, fmt, types, columns, missing_values)
        elif fmt == "parquet":
            frame = pd.read_parquet(source)
        else:
            frame = _read_jsonl(source)
    except pd.errors.EmptyDataError:
        raise DataError.one(None, "the input is empty: expected a header line and rows") from None
    except pd.errors.ParserError as error:
        raise DataError.one(None, f"not valid {fmt.upper()}: {error}".strip()) from None
    except UnicodeDecodeError as error:
        raise DataError.one(None, f"not UTF-8 text: {error}") from None
    except pa.ArrowException as error:
        raise DataError.one(None, f"not a readable Parquet file: {error}") from None
    if columns is not None and fmt not in ("csv", "tsv"):
        wanted = set(columns)
        frame = frame[[name for name in frame.columns if name in wanted]]
    return frame


def read_table(
    source: Path | BinaryIO,
    fmt: Format,
    *,
    types: Mapping[str, ColumnType] | None = None,
    columns: Sequence[str] | None = None,
    missing_values: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a table; ``columns`` keeps only those that exist (the others are not parsed).

    ``types`` names the type of some columns, so that CSV and TSV are parsed straight into
    it; a value that does not fit makes the reader parse those columns as text instead, for
    the validation to report, by row, what is wrong. Parquet and JSON lines carry types.

    Raises:
        DataError: the input is empty, has no rows, or is not valid in its format. The
            message names the file (for a stream, the caller names it).
    """
    name = source if isinstance(source, Path) else None
    try:
        try:
            frame = _parse(source, fmt, types=types, columns=columns, missing_values=missing_values)
        except (ValueError, TypeError, OverflowError) as error:
            if not types:
                raise
            logger.debug("%s: typed read failed (%s); reading those columns as text", name, error)
            if not isinstance(source, Path):
                source.seek(0)
            text: dict[str, ColumnType] = dict.fromkeys(types, "text")
            frame = _parse(source, fmt, types=text, columns=columns, missing_values=missing_values)
    except DataError as error:
        raise DataError(name, error.problems) from None
    if not len(frame):
        message = "no rows after the header" if fmt in ("csv", "tsv") else "no rows"
        raise DataError.one(name, message)
    return frame.reset_index(drop=True)


def sniff_types(
    path: Path, fmt: Format, missing_values: Sequence[str]
) -> dict[str, ColumnType] | None:
    """Return the type of each column of a CSV or TSV file from its first rows.

    ``None`` for Parquet and JSON lines, which carry their types, and for a file whose
    first rows cannot be parsed (the full read then reports why).
    """
    if fmt not in ("csv", "tsv"):
        return None
    try:
        head = pd.read_csv(path, nrows=SNIFF_ROWS, **_text_options(fmt, missing_values))
    except ValueError:  # UnicodeDecodeError among them
        return None
    # A column all missing in the first rows could hold anything further down.
    return {str(name): column_type(head[name]) for name in head.columns if head[name].notna().any()}


def sha256(path: Path) -> str:
    """Return the SHA-256 of a file's bytes, read in blocks."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


@dataclass(frozen=True)
class SourceTable:
    """A table read from ``data.source``: the rows, where they came from, the target."""

    frame: pd.DataFrame
    name: str
    format: str
    target: str
    path: Path | None = None

    def digest(self) -> str:
        """Return the SHA-256 that identifies the content: of the file, or of a demo's rows.

        It may run on another thread while the table is processed: hashing releases the GIL.
        """
        if self.path is not None:
            return sha256(self.path)
        hashes = pd.util.hash_pandas_object(self.frame, index=True).to_numpy()
        return hashlib.sha256(hashes.tobytes()).hexdigest()


@timed(level=logging.DEBUG)
def read_source_file(path: Path, missing_values: Sequence[str], target: str) -> SourceTable:
    """Read a source file in full (its digest is ``SourceTable.digest``).

    Raises:
        DataError: the file is missing, unreadable, or not a table in its format.
    """
    fmt = file_format(path)
    if not path.is_file():
        raise DataError.one(path, "no such file: put the table there or fix data.source")
    types = sniff_types(path, fmt, missing_values)
    frame = read_table(path, fmt, types=types, missing_values=missing_values)
    return SourceTable(frame, str(path), fmt, target, path)


@dataclass(frozen=True)
class Demo:
    """A dataset bundled with scikit-learn: its loader, and how its target is labelled."""

    loader: str
    description: str
    named_classes: bool


DEMOS = {
    "breast_cancer": Demo(
        "load_breast_cancer", "breast tumours, malignant or benign", named_classes=True
    ),
    "diabetes": Demo(
        "load_diabetes", "diabetes progression after one year (regression)", named_classes=False
    ),
    "iris": Demo("load_iris", "iris flowers, three species", named_classes=True),
    "wine": Demo("load_wine", "wines from three cultivars", named_classes=True),
}
DEMO_TARGET = "target"


@timed(level=logging.DEBUG)
def read_demo(name: str) -> SourceTable:
    """Load a demo dataset; classification demos name their classes (``"malignant"``).

    Raises:
        ConfigError: ``name`` is not one of ``DEMOS``.
    """
    from sklearn import __version__ as sklearn_version  # noqa: PLC0415 - demos only
    from sklearn import datasets  # noqa: PLC0415 - demos only

    if name not in DEMOS:
        raise ConfigError(
            f"data.source: unknown demo {name!r}; the demos are {', '.join(sorted(DEMOS))}"
        )
    demo = DEMOS[name]
    bunch = getattr(datasets, demo.loader)(as_frame=True)
    frame = bunch.frame.rename(columns=str)
    if demo.named_classes:
        names = [str(label) for label in bunch.target_names]
        frame[DEMO_TARGET] = [names[int(code)] for code in frame[DEMO_TARGET]]
    return SourceTable(frame, f"demo:{name} (scikit-learn {sklearn_version})", "demo", DEMO_TARGET)
