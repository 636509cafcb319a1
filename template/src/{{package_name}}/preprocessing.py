"""The preprocessing: from validated rows to the matrix of numbers a model learns from.

A scikit-learn ``ColumnTransformer`` built from the dataset schema, fitted on training rows
only and saved beside the model (``models/preprocessing.skops``):

* numeric columns: a missing value becomes the training median (for models that cannot
  take NaN), and the columns are standardised (for models that learn by gradient steps);
* categorical columns: one 0/1 column per category the schema recorded. A missing value,
  a category too rare to be recorded and one never seen in training are all encoded as
  zeros in every column, so a new category never stops a prediction.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ._exceptions import DamagedArtifactError
from .contract import FloatArray, Preprocessing
from .schema import DatasetSchema
from .skops_files import dump_skops, load_skops

PREPROCESSING_FILE = "preprocessing.skops"
# Types of a fitted preprocessing that skops does not trust by default, listed one by one:
# a type added here is a reviewed decision.
TRUSTED_TYPES = ("numpy.dtype",)


def build(schema: DatasetSchema, needs: Preprocessing) -> ColumnTransformer:
    """Return the unfitted preprocessing of ``schema``'s features for a model's ``needs``."""
    numeric_steps: list[tuple[str, Any]] = []
    if needs.impute:
        numeric_steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True)))
    if needs.scale:
        numeric_steps.append(("scale", StandardScaler()))
    numeric = [feature.name for feature in schema.of_kind("numeric")]
    categorical = schema.of_kind("categorical")
    encoder = OneHotEncoder(
        categories=[list(feature.categories) for feature in categorical],
        handle_unknown="ignore",
        sparse_output=False,
        dtype=np.float64,
    )
    return ColumnTransformer(
        [
            ("numeric", Pipeline(numeric_steps) if numeric_steps else "passthrough", numeric),
            ("categorical", encoder, [feature.name for feature in categorical]),
        ],
        verbose_feature_names_out=False,
    )


def transform(preprocessor: ColumnTransformer, frame: pd.DataFrame) -> FloatArray:
    """Encode validated rows (``DatasetSchema.validate``) as a float64 matrix."""
    return np.asarray(preprocessor.transform(frame), dtype=np.float64)


def encoded_columns(preprocessor: ColumnTransformer) -> list[str]:
    """Name the columns of the encoded matrix (``island_Biscoe`` for a category)."""
    return [str(name) for name in preprocessor.get_feature_names_out()]


def save(preprocessor: ColumnTransformer, directory: Path) -> None:
    """Write the fitted preprocessing to ``directory/preprocessing.skops``."""
    dump_skops(preprocessor, directory / PREPROCESSING_FILE)


def load(directory: Path) -> ColumnTransformer:
    """Read the preprocessing saved by ``save``, refusing types that are not trusted."""
    path = directory / PREPROCESSING_FILE
    loaded = load_skops(path, TRUSTED_TYPES, "train")
    if not isinstance(loaded, ColumnTransformer):
        problem = f"holds a {type(loaded).__name__}, not a fitted preprocessing"
        raise DamagedArtifactError(path, problem, "train")
    return loaded
