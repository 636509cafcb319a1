"""The model: histogram gradient boosting from scikit-learn, a classifier or a regressor.

Gradient-boosted trees are the strongest default for tables: they need no scaling, take
missing values as they are (so ``PREPROCESSING`` neither imputes nor scales), and find
interactions between columns by themselves. Each boosting iteration is an epoch of the
learning curve. Boosting stops once the validation loss has not improved for
``train.patience`` iterations, and the model is then refitted with the best number of
iterations, so that it keeps the best validation loss (same seed, same trees).

The losses are the estimator's own: the log loss of a classifier, half the squared error
of a regressor. The estimator is saved with skops, whose loader refuses every type it is
not told to trust: unlike a pickle, a tampered model file cannot run code.
"""

import copy
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import sklearn
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from . import graphs
from ._exceptions import DamagedArtifactError
from .config import Settings
from .contract import EpochCallback, EpochStats, FloatArray, Model, Preprocessing, Spec, Split
from .skops_files import dump_skops, load_skops

MODEL_FILE = "model.skops"
ARTIFACTS = {
    MODEL_FILE: "the fitted gradient-boosting estimator (loading refuses any type skops "
    "does not trust: no code runs)",
}
PACKAGES: tuple[str, ...] = ("scikit-learn", "skops")
PREPROCESSING = Preprocessing(impute=False, scale=False)
# Boosting reports its iterations once the fit is over, too late for `tune` to prune a trial.
EPOCH_TRAINED = False
# `train --workers N` on Ray Train: gradient boosting trains on one worker.
DATA_PARALLEL = False
# The types of a fitted estimator beyond those skops trusts by default.
TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


def seed_everything(seed: int) -> None:
    """Seed Python's generator; the estimator gets ``random_state`` from the settings."""
    random.seed(seed)


def single(features: FloatArray) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The features rounded to 32-bit floats, as the trees see them in training and after.

    The exported graph (``to_onnx``) compares values with the splits in 32 bits; a tree
    trained on rounded values has its splits between two such values, so that both
    runtimes send every row down the same branches.
    """
    return np.asarray(features, dtype=np.float32)


class GradientBoosting:
    """A histogram gradient-boosting estimator behind the model contract."""

    def __init__(self, spec: Spec, estimator: Any) -> None:  # noqa: ANN401 - sklearn is untyped
        """Wrap ``estimator``, built (or loaded) for ``spec``."""
        self.spec = spec
        self.estimator = estimator

    def fit(self, train: Split, validation: Split, report: EpochCallback) -> list[EpochStats]:
        """Boost until the validation loss stops improving; refit to the best iteration."""
        self.estimator.set_params(early_stopping=True, scoring="loss", validation_fraction=None)
        self.estimator.fit(
            single(train.features),
            train.target,
            X_val=single(validation.features),
            y_val=validation.target,
        )
        # Scores are negated losses, the first one before any tree: iterations count from 1.
        train_losses = -np.asarray(self.estimator.train_score_[1:], dtype=np.float64)
        validation_losses = -np.asarray(self.estimator.validation_score_[1:], dtype=np.float64)
        history = [
            EpochStats(epoch, float(train_loss), float(validation_loss))
            for epoch, (train_loss, validation_loss) in enumerate(
                zip(train_losses, validation_losses, strict=True), start=1
            )
        ]
        for stats in history:
            report(stats)
        best = int(np.argmin(validation_losses)) + 1
        if best < len(history):
            self.estimator.set_params(early_stopping=False, max_iter=best)
            self.estimator.fit(single(train.features), train.target)
        return history

    def predict(self, features: FloatArray) -> FloatArray:
        """Return class probabilities (every class of the spec) or predicted values."""
        if self.spec.task == "regression":
            return np.asarray(self.estimator.predict(single(features)), dtype=np.float64)
        seen = np.asarray(self.estimator.predict_proba(single(features)), dtype=np.float64)
        probabilities = np.zeros((features.shape[0], self.spec.n_classes))
        probabilities[:, np.asarray(self.estimator.classes_, dtype=np.int64)] = seen
        return probabilities

    def runtime(self) -> dict[str, str]:
        """Describe where the model computes."""
        return {"framework": f"scikit-learn {sklearn.__version__}", "device": "cpu"}

    def save(self, directory: Path) -> None:
        """Write the estimator and its spec to ``directory/model.skops``."""
        dump_skops({"estimator": self.estimator, "spec": asdict(self.spec)}, directory / MODEL_FILE)


def create(settings: Settings, spec: Spec) -> Model:
    """Return an untrained estimator for ``spec``, configured from the settings."""
    options = {
        "learning_rate": settings.train.learning_rate,
        "max_iter": settings.train.max_iterations,
        "n_iter_no_change": settings.train.patience,
        "max_leaf_nodes": settings.model.max_leaf_nodes,
        "min_samples_leaf": settings.model.min_samples_leaf,
        "l2_regularization": settings.model.l2_regularization,
        "max_features": settings.model.max_features,
        "random_state": settings.seed,
    }
    if spec.task == "classification":
        return GradientBoosting(spec, HistGradientBoostingClassifier(**options))
    return GradientBoosting(spec, HistGradientBoostingRegressor(**options))


def load(directory: Path) -> Model:
    """Read a model saved by ``save``, refusing any type that is not trusted."""
    path = directory / MODEL_FILE
    saved = load_skops(path, TRUSTED_TYPES, "train")
    try:
        spec = Spec(**saved["spec"])
        estimator = saved["estimator"]
    except (KeyError, TypeError, ValueError) as error:
        raise DamagedArtifactError(path, f"damaged ({error})", "train") from None
    expected = (
        HistGradientBoostingClassifier
        if spec.task == "classification"
        else HistGradientBoostingRegressor
    )
    if not isinstance(estimator, expected):
        raise DamagedArtifactError(path, f"holds a {type(estimator).__name__}", "train")
    return GradientBoosting(spec, estimator)


def thresholds_rounded_down(estimator: Any) -> Any:  # noqa: ANN401 - sklearn is untyped
    """A copy of the fitted estimator whose split thresholds are 32-bit floats, rounded down.

    The ONNX graph compares 32-bit features with 32-bit thresholds. A threshold rounded to
    the nearest 32-bit float can land on a feature's value (1.7 is where the midpoint of
    1.6 and 1.8 rounds to) and send it down the other branch. Rounded down, to the largest
    32-bit float at or below it, a threshold compares every 32-bit value, which is what
    ``single`` gives the trees, exactly as before: both runtimes take the same branches.
    """
    copied = copy.deepcopy(estimator)
    for predictors in copied._predictors:  # noqa: SLF001 - the fitted trees
        for predictor in predictors:
            exact = predictor.nodes["num_threshold"]
            rounded = exact.astype(np.float32)
            above = rounded.astype(np.float64) > exact
            rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
            predictor.nodes["num_threshold"] = rounded
    return copied


def to_onnx(estimator: Model) -> onnx.ModelProto:
    """Convert the fitted estimator with skl2onnx: the encoded matrix in, ``scores`` out."""
    if not isinstance(estimator, GradientBoosting):
        raise TypeError(f"expected this framework's model, got {type(estimator).__name__}")
    classifier = estimator.spec.task == "classification"
    trees = thresholds_rounded_down(estimator.estimator)
    graph = convert_sklearn(
        trees,
        initial_types=[(graphs.FEATURES, FloatTensorType([None, estimator.spec.n_features]))],
        options={id(trees): {"zipmap": False}} if classifier else {},
        target_opset={"": graphs.OPSET, "ai.onnx.ml": graphs.ML_OPSET},
    )
    return graphs.rename(graph, "probabilities" if classifier else "variable", graphs.SCORES)
