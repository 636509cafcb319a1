"""The model contract: what every framework's model implements, and what it is given.

The pipeline (``train``, ``evaluate``, ``predict``, the API) reaches the model only through
``Model`` and the module-level names of ``model.py``: ``create``, ``load``,
``seed_everything``, ``PREPROCESSING``, ``ARTIFACTS``, ``PACKAGES``, ``EPOCH_TRAINED`` and
``DATA_PARALLEL``. mypy checks that the
framework's model meets the protocol, and ``tests/test_model.py`` runs one contract test on
whichever framework this project uses.

Models see NumPy arrays only. The preprocessing (``preprocessing.py``) has imputed, encoded
and, where ``PREPROCESSING`` asks for it, scaled the features; a classification target
arrives as class indices ``0 .. n_classes - 1`` (``schema.TargetSpec.classes`` holds the
labels), a regression target as floats.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

Task = Literal["classification", "regression"]
Runtime = Literal["native", "onnx"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Spec:
    """The problem a model is built for: the task and the width of its input and output."""

    task: Task
    n_features: int
    n_classes: int = 0

    def __post_init__(self) -> None:
        """Refuse a spec no model can be built for."""
        if self.n_features < 1:
            raise ValueError(f"a model needs at least one input column, got {self.n_features}")
        if self.task == "classification" and self.n_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {self.n_classes}")
        if self.task == "regression" and self.n_classes != 0:
            raise ValueError("a regressor predicts a number: n_classes must be 0")


@dataclass(frozen=True)
class Preprocessing:
    """What a model needs the preprocessing to do before it sees the features."""

    impute: bool
    """Replace missing numeric values (by the training median): the model cannot take NaN."""
    scale: bool
    """Standardise numeric columns: the model learns by gradient steps on raw magnitudes."""


@dataclass(frozen=True)
class Split:
    """Rows a model learns from or is checked on: encoded features and the target."""

    features: FloatArray
    target: FloatArray | IntArray

    def __post_init__(self) -> None:
        """Check that the arrays agree."""
        if self.features.ndim != 2 or self.target.shape != (self.features.shape[0],):
            raise ValueError(
                f"features must be (rows, columns) and target (rows,), got "
                f"{self.features.shape} and {self.target.shape}"
            )

    def __len__(self) -> int:
        """Number of rows."""
        return int(self.features.shape[0])


@dataclass(frozen=True)
class EpochStats:
    """The losses after one epoch (one boosting iteration, for gradient boosting)."""

    epoch: int
    train_loss: float
    validation_loss: float


EpochCallback = Callable[[EpochStats], None]


class Model(Protocol):
    """A trainable, savable model of one framework."""

    @property
    def spec(self) -> Spec:
        """The problem the model was built for."""
        ...

    def fit(self, train: Split, validation: Split, report: EpochCallback) -> list[EpochStats]:
        """Train on ``train``, stop early on ``validation``; call ``report`` after each epoch.

        Keeps the weights of the epoch with the lowest validation loss and returns the
        history of every epoch run.
        """
        ...

    def predict(self, features: FloatArray) -> FloatArray:
        """Return class probabilities, ``(rows, n_classes)``, or values, ``(rows,)``."""
        ...

    def runtime(self) -> dict[str, str]:
        """Describe where the model computes: the framework and its version, the device."""
        ...

    def save(self, directory: Path) -> None:
        """Write the model's files (``model.ARTIFACTS``) into ``directory``."""
        ...


class Scorer(Protocol):
    """Turns validated rows into the model's output (see ``Model.predict``).

    ``scoring.NativeScorer`` runs the saved preprocessing and model; ``onnx_runtime.OnnxScorer``
    the exported ONNX graph of both.
    """

    @property
    def spec(self) -> Spec:
        """The problem the model was built for."""
        ...

    def __call__(self, rows: pd.DataFrame) -> FloatArray:
        """Return class probabilities, ``(rows, n_classes)``, or values, ``(rows,)``."""
        ...


def check_output(spec: Spec, output: FloatArray, rows: int) -> FloatArray:
    """Return ``output`` as float64 if its shape is what ``spec`` promises, else raise.

    A wrong shape is a bug of the model, not of the data: ``TypeError``, with a traceback.
    """
    expected = (rows, spec.n_classes) if spec.task == "classification" else (rows,)
    if output.shape != expected:
        raise TypeError(f"the model returned shape {output.shape}, expected {expected}")
    return np.asarray(output, dtype=np.float64)
