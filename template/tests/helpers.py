"""Helpers of the tests: the one small configuration they train with, and test tables.

``write_config`` writes the configuration: the small model settings of ``tiny.toml`` for
this project's framework, paths under a test's folder, and the ``[data]`` section a test
asks for. ``animals`` and ``measurements`` make the tables the pipeline tests learn from:
text categories, missing values, text labels, an ID column, a column to pseudonymise; a
classification and a regression.
"""

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TINY = Path(__file__).with_name("tiny.toml")
# The [data] settings of the classifier the tests share (conftest.py).
CLASSIFIER: dict[str, Any] = {
    "target": "species",
    "id_columns": ["animal_id"],
    "drop": ["notes"],
    "pseudonymize": ["keeper"],
}
KEY = "k" * 43  # a pseudonymisation key of the length `secrets.token_urlsafe(32)` gives
# What an image that only predicts on ONNX Runtime can leave out.
TRAINING_ONLY = frozenset(
    {"keras", "matplotlib", "onnx", "scipy", "skl2onnx", "sklearn", "skops", "tensorflow", "torch"}
)
LIST_MODULES = """
import sys
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def toml_value(value: Any) -> str:  # noqa: ANN401 - any value a test writes
    """Write a string, number, boolean or list of them as TOML (JSON's syntax is TOML's)."""
    return json.dumps(value)


def imported_by(code: str, *args: str, env: Mapping[str, str] | None = None) -> set[str]:
    """Run ``code`` in a fresh interpreter; return the top-level modules it imported."""
    command = [sys.executable, "-c", code + LIST_MODULES, *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)  # noqa: S603
    return set(done.stdout.split())


def write_config(root: Path, seed: int = 7, /, **data: Any) -> Path:  # noqa: ANN401
    """Write the small configuration with its paths under ``root``; return its path.

    ``data`` is the ``[data]`` section (by default the demo ``demo:iris``).
    """
    root.mkdir(parents=True, exist_ok=True)
    lines = [f"seed = {seed}", "", "[paths]"]
    lines += [
        f'{name} = "{(root / name.removesuffix("_dir")).as_posix()}"'
        for name in ("data_dir", "models_dir", "reports_dir")
    ]
    lines += ["", "[data]"]
    lines += [
        f"{key} = {toml_value(value)}" for key, value in ({"source": "demo:iris"} | data).items()
    ]
    path = root / "tiny.toml"
    path.write_text("\n".join(lines) + "\n\n" + TINY.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def animals(rows: int = 150, seed: int = 0) -> pd.DataFrame:
    """A classification table: three text classes told apart by two numbers and a category.

    ``weight`` has missing values, ``habitat`` is text with missing values, ``tagged`` a
    boolean, ``animal_id`` identifies rows and ``keeper`` is an e-mail address (to
    pseudonymise); ``notes`` is free text to drop.
    """
    rng = np.random.default_rng(seed)
    species = np.asarray(["otter", "heron", "badger"])[np.arange(rows) % 3]
    centre = {"otter": 8.0, "heron": 2.0, "badger": 12.0}
    weight = np.asarray([centre[name] for name in species]) + rng.normal(0, 1.0, rows)
    weight[rng.random(rows) < 0.08] = np.nan
    habitat = np.where(species == "heron", "marsh", np.where(species == "otter", "river", "wood"))
    habitat = np.where(rng.random(rows) < 0.15, "field", habitat).astype(object)
    habitat[rng.random(rows) < 0.05] = None
    return pd.DataFrame(
        {
            "animal_id": [f"A{index:04d}" for index in range(rows)],
            "weight": weight.round(2),
            "length": (
                np.asarray([centre[name] for name in species]) * 6 + rng.normal(0, 4, rows)
            ).round(1),
            "habitat": habitat,
            "tagged": rng.random(rows) < 0.5,
            "keeper": [f"keeper{index % 7}@example.org" for index in range(rows)],
            "notes": [f"seen on day {index}" for index in range(rows)],
            "species": species,
        }
    )


def measurements(rows: int = 160, seed: int = 1) -> pd.DataFrame:
    """A regression table: ``price`` from two numbers and a text category, with gaps."""
    rng = np.random.default_rng(seed)
    area = rng.uniform(20, 200, rows).round(1)
    rooms = rng.integers(1, 7, rows)
    district = rng.choice(["north", "south", "centre"], rows)
    premium = {"north": 0.0, "south": -200.0, "centre": 600.0}
    price = 30 * area + 100 * rooms + np.asarray([premium[d] for d in district])
    price += rng.normal(0, 150, rows)
    area[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "flat": np.arange(1, rows + 1),
            "area": area,
            "rooms": rooms,
            "district": district,
            "price": price.round(2),
        }
    )


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` in the format the suffix of ``path`` names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif name.endswith(".jsonl"):
        path.write_text(frame.to_json(orient="records", lines=True), encoding="utf-8")
    else:
        frame.to_csv(path, index=False, sep="\t" if ".tsv" in name else ",")
    return path
