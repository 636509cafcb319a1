"""Read the source table, decide its schema, and write the train/test split every step reads.

``prepare`` writes, under ``<data_dir>/processed/``:

* ``train.parquet`` and ``test.parquet``: the split (stratified by class for a classifier),
  with the features, the target and the ID columns, in the order of the source;
* ``dataset.json``: the source (file, format, SHA-256, rows), the schema (each column's
  kind, type, missing values, categories or range; the target, its task and classes), each
  file's rows and SHA-256, and the settings that made them.

It reuses the files when they were made from the same source with the same settings and
still match their digests; a source or a file changed since is prepared again.
"""

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.model_selection import train_test_split

from ._exceptions import DamagedArtifactError, DataError, Source, StaleArtifactError
from .artifacts import atomic_path, read_document, write_json
from .config import DEMO_PREFIX, Settings
from .privacy import key_fingerprint, pseudonymization_key, pseudonymize
from .profiling import timed
from .schema import DatasetSchema, infer_schema, labels_to_codes
from .sources import SourceTable, read_demo, read_source_file, read_table, sha256

logger = logging.getLogger(__name__)

TRAIN_FILE = "train.parquet"
TEST_FILE = "test.parquet"
INFO_FILE = "dataset.json"
INFO_VERSION = 1
# Rows per Parquet row group of the prepared files.
ROW_GROUP = 131_072
Positions = np.ndarray[Any, np.dtype[np.intp]]


@dataclass(frozen=True)
class PreparedFile:
    """One file of the split: how many rows it holds and the SHA-256 of its bytes."""

    rows: int
    sha256: str


@dataclass(frozen=True)
class DatasetInfo:
    """What ``prepare`` made, saved as ``dataset.json``."""

    source: str
    source_format: str
    source_sha256: str
    source_rows: int
    rows_without_target: int
    schema: DatasetSchema
    files: dict[str, PreparedFile]
    parameters: dict[str, Any]
    version: int = INFO_VERSION

    @property
    def train_rows(self) -> int:
        """Rows in ``train.parquet``."""
        return self.files[TRAIN_FILE].rows

    @property
    def test_rows(self) -> int:
        """Rows in ``test.parquet``."""
        return self.files[TEST_FILE].rows

    def write(self, path: Path) -> None:
        """Save as JSON, atomically."""
        write_json(path, asdict(self))

    @classmethod
    def read(cls, path: Path) -> Self:
        """Load a description saved by ``write``.

        Raises:
            MissingArtifactError: there is none (run ``prepare``).
            DamagedArtifactError: it was altered and no longer has the saved shape.
        """
        return read_document(
            path, "prepare", cls.from_dict, version=INFO_VERSION, repair="prepare --force"
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuild a description from its JSON form.

        Raises:
            ValueError, KeyError, TypeError, AttributeError: ``data`` is not of that form.
        """
        files = {name: PreparedFile(**entry) for name, entry in data["files"].items()}
        if set(files) != {TRAIN_FILE, TEST_FILE}:
            raise ValueError(f"lists {sorted(files)}, expected {TRAIN_FILE} and {TEST_FILE}")
        schema = DatasetSchema.from_dict(data["schema"])
        return cls(**data | {"schema": schema, "files": files})


def parameters_of(settings: Settings) -> dict[str, Any]:
    """The settings that decide the content of the prepared files.

    ``validation_fraction`` is left out: ``train`` splits the training file with it, so
    changing it must not make ``prepare`` rewrite files (which DVC would see as the prepare
    stage's outputs changing under it). With pseudonymised columns, the key's fingerprint is
    in: another key gives other digests.
    """
    data = settings.data.model_dump(mode="json", exclude={"validation_fraction"})
    parameters: dict[str, Any] = {"seed": settings.seed, "data": data}
    if settings.data.pseudonymize:
        key = pseudonymization_key(settings.data.pseudonymize)
        parameters["pseudonymization_key"] = key_fingerprint(key)
    return parameters


def changed_files(info: DatasetInfo, directory: Path) -> list[str]:
    """Name the prepared files that are missing or no longer match their recorded digest."""
    return [
        name
        for name, prepared in info.files.items()
        if not (directory / name).is_file() or sha256(directory / name) != prepared.sha256
    ]


def _source_changed(info: DatasetInfo, settings: Settings) -> bool:
    """Tell whether the source file's bytes differ from those ``info`` was prepared from."""
    if settings.data.is_demo:
        return False  # a demo's content is pinned by its name and scikit-learn's version
    path = Path(settings.data.source)
    return not path.is_file() or sha256(path) != info.source_sha256


def current(settings: Settings) -> DatasetInfo | None:
    """Return the prepared dataset if it is still current for ``settings``, else ``None``."""
    directory = settings.paths.processed_dir
    info_path = directory / INFO_FILE
    if not info_path.is_file():
        return None
    try:
        info = DatasetInfo.read(info_path)
    except DamagedArtifactError as error:
        logger.info("preparing again: %s", error)
        return None
    if info.parameters != parameters_of(settings):
        logger.info("preparing again: the [data] settings or the seed changed")
        return None
    if changed := changed_files(info, directory):
        logger.info("preparing again: %s changed since it was written", ", ".join(changed))
        return None
    if _source_changed(info, settings):
        logger.info("preparing again: %s changed since it was prepared", settings.data.source)
        return None
    return info


def read_source(settings: Settings) -> SourceTable:
    """Read ``data.source``: a demo dataset or a file."""
    data = settings.data
    if data.is_demo:
        return read_demo(data.source.removeprefix(DEMO_PREFIX))
    return read_source_file(Path(data.source), data.missing_values, data.target)


@timed(level=logging.DEBUG)
def split_rows(
    frame: pd.DataFrame, schema: DatasetSchema, fraction: float, seed: int, source: Source
) -> tuple[Positions, Positions]:
    """Return the positions of the rows of each part, in the order of the source.

    A classifier's split is stratified: the rows of each class are split on their own
    (scikit-learn's ``train_test_split``), so each class keeps its share in both parts and
    every class has rows in both. This is exact where scikit-learn's ``stratify`` rounds
    rare classes away, and a tenth of its time on a million rows.

    Raises:
        DataError: there are too few rows (or rows of a class) to split this way.
    """
    target = schema.target
    if target.task == "regression":
        groups = [np.arange(len(frame))]
    else:
        codes = labels_to_codes(frame[target.name], target.classes)
        counts = np.bincount(codes, minlength=len(target.classes))
        rare = [label for label, count in zip(target.classes, counts, strict=True) if count < 2]
        if rare:
            names = ", ".join(repr(label) for label in rare)
            raise DataError.one(
                source,
                f"class {names} of {target.name!r} has fewer than 2 rows: a stratified split "
                "needs at least 2 rows of each class",
            )
        by_class = np.argsort(codes, kind="stable")
        groups = np.split(by_class, np.cumsum(counts)[:-1])
    if len(frame) < 2:
        raise DataError.one(source, f"cannot split {len(frame)} row: at least 2 are needed")
    parts = [
        train_test_split(group, test_size=fraction, random_state=seed + index)
        for index, group in enumerate(groups)
    ]
    first = np.concatenate([part[0] for part in parts])
    second = np.concatenate([part[1] for part in parts])
    return np.sort(first), np.sort(second)


@timed(level=logging.DEBUG)
def write_part(table: pa.Table, rows: Positions, path: Path) -> PreparedFile:
    """Write the rows at ``rows`` as Parquet, atomically; return their count and digest.

    Rows are copied and written one row group at a time, so the part never exists twice in
    memory. Only columns that are not floats are dictionary-encoded: measured numbers
    rarely repeat, and trying costs more than the rest of the writing.
    """
    encoded = [field.name for field in table.schema if not pa.types.is_floating(field.type)]
    with atomic_path(path) as temporary:
        with pq.ParquetWriter(
            temporary, table.schema, compression="snappy", use_dictionary=encoded
        ) as writer:
            for start in range(0, len(rows), ROW_GROUP):
                writer.write_table(table.take(rows[start : start + ROW_GROUP]))
        digest = sha256(temporary)
    return PreparedFile(len(rows), digest)


def prepare(settings: Settings, *, force: bool = False) -> DatasetInfo:
    """Write the train/test split and its description; reuse them when still current."""
    if not force and (info := current(settings)) is not None:
        logger.debug("reusing the dataset in %s", settings.paths.processed_dir)
        return info
    parameters = parameters_of(settings)
    data = settings.data
    table = read_source(settings)
    # Hashing and Parquet encoding release the GIL: they run beside the rest, on a thread.
    with ThreadPoolExecutor(max_workers=2) as pool:
        source_digest = pool.submit(table.digest)
        frame = table.frame
        if data.pseudonymize:
            key = pseudonymization_key(data.pseudonymize)
            frame = pseudonymize(frame, data.pseudonymize, key)
        inferred = infer_schema(frame, data, table.target, table.name)
        train_rows, test_rows = split_rows(
            inferred.frame, inferred.schema, data.test_fraction, settings.seed, table.name
        )
        directory = settings.paths.processed_dir
        parts = {TRAIN_FILE: train_rows, TEST_FILE: test_rows}
        # Numeric columns become Arrow arrays without a copy.
        arrow = pa.Table.from_pandas(inferred.frame, preserve_index=False)
        futures = {
            name: pool.submit(write_part, arrow, rows, directory / name)
            for name, rows in parts.items()
        }
        files = {name: future.result() for name, future in futures.items()}
        digest = source_digest.result()
    info = DatasetInfo(
        source=table.name,
        source_format=table.format,
        source_sha256=digest,
        source_rows=len(table.frame),
        rows_without_target=inferred.rows_without_target,
        schema=inferred.schema,
        files=files,
        parameters=parameters,
    )
    info.write(directory / INFO_FILE)
    logger.info(
        "prepared %d training and %d test rows from %s in %s",
        info.train_rows,
        info.test_rows,
        table.name,
        directory,
    )
    return info


def load_part(settings: Settings, info: DatasetInfo, name: str) -> pd.DataFrame:
    """Read one part of the split, checked against its digest and the schema.

    Raises:
        StaleArtifactError: the file changed since ``prepare`` wrote it.
        DataError: its rows no longer fit the schema.
    """
    path = settings.paths.processed_dir / name
    if name in changed_files(info, settings.paths.processed_dir):
        raise StaleArtifactError(
            path, "missing, or changed since it was prepared", "prepare --force"
        )
    frame = read_table(path, "parquet")
    return info.schema.validate(frame, path, with_target=True)


def digests(info: DatasetInfo) -> Mapping[str, str]:
    """The SHA-256 of each prepared file, by name: what a model was trained on."""
    return {name: prepared.sha256 for name, prepared in info.files.items()}
