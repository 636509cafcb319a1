"""The native scorer: the saved preprocessing and model of this project's framework.

``predict.Predictor`` turns validated rows into predictions through a scorer: this one, or
the ONNX one of ``onnx_runtime.py``, which needs no training framework.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Self

import pandas as pd
from sklearn.compose import ColumnTransformer

from . import model, preprocessing
from .contract import FloatArray, Model, Spec


@dataclass(frozen=True)
class NativeScorer:
    """The fitted preprocessing and the model, as ``train`` saved them."""

    preprocessor: ColumnTransformer
    estimator: Model
    features: tuple[str, ...]

    @classmethod
    def load(cls, models_dir: Path, features: tuple[str, ...]) -> Self:
        """Load the preprocessing and the model saved in ``models_dir``.

        Raises:
            ArtifactError: a file is missing or damaged (the message says what to rerun).
        """
        return cls(preprocessing.load(models_dir), model.load(models_dir), features)

    @property
    def spec(self) -> Spec:
        """The problem the model was built for."""
        return self.estimator.spec

    def __call__(self, rows: pd.DataFrame) -> FloatArray:
        """Return the model's output for validated rows: probabilities or values."""
        encoded = preprocessing.transform(self.preprocessor, rows[list(self.features)])
        return self.estimator.predict(encoded)
