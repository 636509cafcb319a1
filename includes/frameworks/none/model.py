"""The model: a linear baseline in NumPy, trained by gradient descent.

A baseline with no framework: a linear layer on standardised features, with a softmax and
the cross-entropy for a classifier (multinomial logistic regression), or the mean squared
error of the standardised target for a regressor (ridge regression). Full-batch gradient
descent with an L2 penalty, early stopping on the validation loss, and the best epoch's
weights kept. The step is ``train.learning_rate`` times the largest step that cannot
diverge (one over the curvature of the loss), so one setting suits every table. It is saved as a NumPy archive of plain arrays (no pickle).
"""

import random
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import graphs
from ._exceptions import DamagedArtifactError, MissingArtifactError
from .artifacts import atomic_path, check_archive
from .config import Settings
from .contract import (
    EpochCallback,
    EpochStats,
    FloatArray,
    Model,
    Preprocessing,
    Spec,
    Split,
    Task,
)

MODEL_FILE = "model.npz"
ARTIFACTS = {
    MODEL_FILE: "the weights, the task and the target scaling, plain NumPy arrays (loaded "
    "without pickle: no code runs)",
}
PACKAGES: tuple[str, ...] = ("numpy",)
PREPROCESSING = Preprocessing(impute=True, scale=True)
# Each step is reported as it ends, so `tune` can stop a trial that falls behind.
EPOCH_TRAINED = True
# `train --workers N` on Ray Train: the baseline trains on one worker.
DATA_PARALLEL = False
TASKS: tuple[Task, ...] = ("classification", "regression")


def seed_everything(seed: int) -> None:
    """Seed every random generator in play (NumPy code here uses explicit generators)."""
    random.seed(seed)


def softmax(logits: FloatArray) -> FloatArray:
    """Row-wise softmax, shifted by the row maximum so large logits cannot overflow."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: FloatArray = shifted / shifted.sum(axis=1, keepdims=True)
    return probabilities


class Linear:
    """Multinomial logistic or ridge regression on encoded features."""

    def __init__(
        self,
        spec: Spec,
        weights: FloatArray,
        bias: FloatArray,
        scaling: tuple[float, float] = (0.0, 1.0),
        settings: Settings | None = None,
    ) -> None:
        """Hold the weights for ``spec``; ``settings`` are needed only to train them."""
        self.spec = spec
        self.weights = weights
        self.bias = bias
        self.scaling = scaling
        self.settings = settings

    def _outputs(self, features: FloatArray) -> FloatArray:
        logits = features @ self.weights + self.bias
        return softmax(logits) if self.spec.task == "classification" else logits[:, 0]

    def _targets(self, split: Split) -> FloatArray:
        """The target as the loss compares it: one-hot classes or the standardised value."""
        if self.spec.task == "classification":
            return np.eye(self.spec.n_classes)[split.target.astype(np.int64)]
        mean, scale = self.scaling
        return (split.target.astype(np.float64) - mean) / scale

    def _loss(self, outputs: FloatArray, targets: FloatArray) -> float:
        if self.spec.task == "classification":
            chosen = (outputs * targets).sum(axis=1)
            return float(-np.mean(np.log(np.clip(chosen, 1e-15, 1.0))))
        return float(np.mean((outputs - targets) ** 2))

    def _curvature(self, features: FloatArray, l2: float) -> float:
        """Bound the curvature of the loss: gradient steps of ``1 / curvature`` never diverge.

        It is the largest eigenvalue of the features' second moments (with the bias), times
        2 for the squared error and 1/2 for the cross-entropy, plus the L2 penalty.
        """
        rows = len(features)
        sums = features.sum(axis=0)
        moments = (
            np.block(
                [
                    [features.T @ features, sums[:, np.newaxis]],
                    [sums[np.newaxis, :], np.asarray([[rows]])],
                ]
            )
            / rows
        )
        largest = float(np.linalg.eigvalsh(moments)[-1])
        factor = 0.5 if self.spec.task == "classification" else 2.0
        return factor * largest + l2

    def fit(self, train: Split, validation: Split, report: EpochCallback) -> list[EpochStats]:
        """Train until ``epochs`` or until the validation loss stops improving.

        The weights of the epoch with the lowest validation loss are kept.
        """
        if self.settings is None:
            raise ValueError("a loaded model cannot be trained again: create a new one")
        options, l2 = self.settings.train, self.settings.model.l2
        if self.spec.task == "regression":
            scale = float(np.std(train.target))
            self.scaling = (float(np.mean(train.target)), scale if scale > 0 else 1.0)
        targets, checks = self._targets(train), self._targets(validation)
        step = options.learning_rate / self._curvature(train.features, l2)
        history: list[EpochStats] = []
        best = (np.inf, self.weights.copy(), self.bias.copy())
        waited = 0
        for epoch in range(1, options.epochs + 1):
            outputs = self._outputs(train.features)
            error = (outputs - targets) / len(train)
            if self.spec.task == "regression":
                error = 2 * error[:, np.newaxis]
            self.weights -= step * (train.features.T @ error + l2 * self.weights)
            self.bias -= step * error.sum(axis=0)
            stats = EpochStats(
                epoch,
                self._loss(self._outputs(train.features), targets),
                self._loss(self._outputs(validation.features), checks),
            )
            history.append(stats)
            report(stats)
            if stats.validation_loss < best[0]:
                best, waited = (stats.validation_loss, self.weights.copy(), self.bias.copy()), 0
            else:
                waited += 1
                if waited >= options.patience:
                    break
        _, self.weights, self.bias = best
        return history

    def predict(self, features: FloatArray) -> FloatArray:
        """Return class probabilities, or values on the target's own scale."""
        outputs = self._outputs(features)
        if self.spec.task == "classification":
            return outputs
        mean, scale = self.scaling
        return outputs * scale + mean

    def runtime(self) -> dict[str, str]:
        """Describe where the model computes."""
        return {"framework": f"numpy {np.__version__}", "device": "cpu"}

    def save(self, directory: Path) -> None:
        """Write the weights, the spec and the scaling to ``directory/model.npz``."""
        with atomic_path(directory / MODEL_FILE) as temporary, temporary.open("wb") as stream:
            np.savez(
                stream,
                weights=self.weights,
                bias=self.bias,
                scaling=np.asarray(self.scaling),
                spec=np.asarray(
                    [TASKS.index(self.spec.task), self.spec.n_features, self.spec.n_classes]
                ),
            )


def create(settings: Settings, spec: Spec) -> Model:
    """Return an untrained model sized for ``spec``, configured from the settings."""
    outputs = spec.n_classes if spec.task == "classification" else 1
    return Linear(spec, np.zeros((spec.n_features, outputs)), np.zeros(outputs), settings=settings)


def load(directory: Path) -> Model:
    """Read a model saved by ``save`` (plain arrays only: no code runs on load)."""
    path = directory / MODEL_FILE
    if not path.is_file():
        raise MissingArtifactError(path, "not found", "train")
    check_archive(path, "train")
    try:
        with np.load(path, allow_pickle=False) as archive:
            task, n_features, n_classes = (int(value) for value in archive["spec"])
            spec = Spec(TASKS[task], n_features, n_classes)
            weights = archive["weights"].astype(np.float64)
            bias = archive["bias"].astype(np.float64)
            mean, scale = (float(value) for value in archive["scaling"])
    except (zipfile.BadZipFile, ValueError, KeyError, IndexError, EOFError, OSError) as error:
        raise DamagedArtifactError(
            path, f"damaged ({type(error).__name__}: {error})", "train"
        ) from None
    outputs = spec.n_classes if spec.task == "classification" else 1
    if weights.shape != (spec.n_features, outputs) or bias.shape != (outputs,):
        raise DamagedArtifactError(path, "damaged (weights of the wrong shape)", "train")
    if not all(np.isfinite(numbers).all() for numbers in (weights, bias, [mean, scale])):
        raise DamagedArtifactError(path, "damaged (weights that are not finite numbers)", "train")
    return Linear(spec, weights, bias, (mean, scale))


def to_onnx(estimator: Model) -> onnx.ModelProto:
    """Build the linear model's graph with ``onnx.helper``.

    Its input is the encoded matrix, ``graphs.FEATURES``; its output ``scores``. It computes
    in 32-bit floats, as edge devices do (and as dynamic quantisation needs): the weights,
    then softmax or the target scaling.
    """
    if not isinstance(estimator, Linear):
        raise TypeError(f"expected this framework's model, got {type(estimator).__name__}")
    weights = numpy_helper.from_array(estimator.weights.astype(np.float32), "weights")
    bias = numpy_helper.from_array(estimator.bias.astype(np.float32), "bias")
    nodes = [helper.make_node("Gemm", [graphs.FEATURES, "weights", "bias"], ["logits"])]
    outputs = estimator.spec.n_classes if estimator.spec.task == "classification" else 1
    if estimator.spec.task == "classification":
        nodes.append(helper.make_node("Softmax", ["logits"], [graphs.SCORES], axis=1))
        initializers = [weights, bias]
    else:
        mean, scale = estimator.scaling
        scaling = [
            numpy_helper.from_array(np.asarray([value], dtype=np.float32), name)
            for name, value in (("scale", scale), ("mean", mean))
        ]
        nodes += [
            helper.make_node("Mul", ["logits", "scale"], ["scaled"]),
            helper.make_node("Add", ["scaled", "mean"], [graphs.SCORES]),
        ]
        initializers = [weights, bias, *scaling]
    graph = helper.make_graph(
        nodes,
        "linear",
        [
            helper.make_tensor_value_info(
                graphs.FEATURES, TensorProto.FLOAT, [None, estimator.spec.n_features]
            )
        ],
        [helper.make_tensor_value_info(graphs.SCORES, TensorProto.FLOAT, [None, outputs])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", graphs.OPSET)])
